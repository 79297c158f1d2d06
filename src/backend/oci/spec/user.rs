//! The process user: CRI run_as_* or the image's `User`, resolved against the rootfs's
//! `/etc/passwd` and `/etc/group` (containerd's rules).

use super::SpecError;
use crate::model::LinuxContainerSecurity;
use std::path::Path;

/// The user a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Additional groups: the primary group, the user's groups in `/etc/group`, then the
    /// supplemental groups, without repeats.
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Clone)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

#[derive(Debug, Clone)]
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Reads `<rootfs>/etc/<name>`; a missing file, or one reached through a symlink (which could
/// point outside the rootfs), reads as empty.
fn read_etc(rootfs: &Path, name: &str) -> String {
    let etc = rootfs.join("etc");
    let path = etc.join(name);
    let is_plain = |p: &Path| {
        std::fs::symlink_metadata(p)
            .map(|m| !m.file_type().is_symlink())
            .unwrap_or(false)
    };
    if !is_plain(&etc) || !is_plain(&path) {
        return String::new();
    }
    std::fs::read_to_string(path).unwrap_or_default()
}

fn passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    read_etc(rootfs, "passwd")
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: fields.first()?.to_string(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

fn groups(rootfs: &Path) -> Vec<GroupEntry> {
    read_etc(rootfs, "group")
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some(GroupEntry {
                name: fields.first()?.to_string(),
                gid: fields.get(2)?.parse().ok()?,
                members: fields
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn id(value: i64, what: &str) -> Result<u32, SpecError> {
    u32::try_from(value)
        .map_err(|_| SpecError::invalid(format!("{what} {value} is not a valid id")))
}

/// Resolves the process user of a container.
pub fn resolve(
    security: &LinuxContainerSecurity,
    image_user: &str,
    rootfs: &Path,
) -> Result<ResolvedUser, SpecError> {
    let users = passwd(rootfs);
    let group_list = groups(rootfs);
    let find_uid = |uid: u32| users.iter().find(|u| u.uid == uid);
    let find_name = |name: &str| {
        users.iter().find(|u| u.name == name).ok_or_else(|| {
            SpecError::invalid(format!("no user {name:?} in the image's /etc/passwd"))
        })
    };
    // (uid, primary gid, user name for /etc/group membership).
    let (uid, mut gid, name) = if let Some(uid) = security.run_as_user {
        let uid = id(uid, "run_as_user")?;
        let entry = find_uid(uid);
        (
            uid,
            entry.map_or(0, |e| e.gid),
            entry.map(|e| e.name.clone()),
        )
    } else if !security.run_as_username.is_empty() {
        let entry = find_name(&security.run_as_username)?;
        (entry.uid, entry.gid, Some(entry.name.clone()))
    } else {
        let (user, group) = match image_user.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (image_user, None),
        };
        let (uid, gid, name) = if user.is_empty() {
            (0, 0, find_uid(0).map(|e| e.name.clone()))
        } else if let Ok(uid) = user.parse::<u32>() {
            let entry = find_uid(uid);
            (
                uid,
                entry.map_or(0, |e| e.gid),
                entry.map(|e| e.name.clone()),
            )
        } else {
            let entry = find_name(user)?;
            (entry.uid, entry.gid, Some(entry.name.clone()))
        };
        let gid = match group {
            None | Some("") => gid,
            Some(group) => match group.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => {
                    group_list
                        .iter()
                        .find(|g| g.name == group)
                        .ok_or_else(|| {
                            SpecError::invalid(format!(
                                "no group {group:?} in the image's /etc/group"
                            ))
                        })?
                        .gid
                }
            },
        };
        (uid, gid, name)
    };
    if let Some(group) = security.run_as_group {
        gid = id(group, "run_as_group")?;
    }
    let mut additional_gids = vec![gid];
    if let Some(name) = &name {
        for group in group_list
            .iter()
            .filter(|g| g.members.iter().any(|m| m == name))
        {
            if !additional_gids.contains(&group.gid) {
                additional_gids.push(group.gid);
            }
        }
    }
    for &group in &security.supplemental_groups {
        let group = id(group, "supplemental group")?;
        if !additional_gids.contains(&group) {
            additional_gids.push(group);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nbob:x:1000:\nvideo:x:44:bob,www\naudio:x:29:bob\n",
        )
        .unwrap();
        dir
    }

    fn resolved(
        security: &LinuxContainerSecurity,
        image_user: &str,
    ) -> Result<ResolvedUser, SpecError> {
        resolve(security, image_user, rootfs().path())
    }

    #[test]
    fn image_user_forms() {
        let none = LinuxContainerSecurity::default();
        assert_eq!(resolved(&none, "").unwrap().uid, 0);
        let bob = resolved(&none, "bob").unwrap();
        assert_eq!(
            (bob.uid, bob.gid, bob.additional_gids),
            (1000, 1000, vec![1000, 44, 29])
        );
        let www = resolved(&none, "www:audio").unwrap();
        assert_eq!(
            (www.uid, www.gid, www.additional_gids),
            (33, 29, vec![29, 44])
        );
        let numeric = resolved(&none, "4242:77").unwrap();
        assert_eq!(
            (numeric.uid, numeric.gid, numeric.additional_gids),
            (4242, 77, vec![77])
        );
        assert!(resolved(&none, "nobody").is_err());
        assert!(resolved(&none, "bob:nogroup").is_err());
    }

    #[test]
    fn cri_settings_win_over_the_image() {
        let security = LinuxContainerSecurity {
            run_as_user: Some(1000),
            run_as_group: Some(5),
            supplemental_groups: vec![7, 44],
            ..Default::default()
        };
        let user = resolved(&security, "www").unwrap();
        assert_eq!(
            (user.uid, user.gid, user.additional_gids),
            (1000, 5, vec![5, 44, 29, 7])
        );
        let by_name = LinuxContainerSecurity {
            run_as_username: "www".into(),
            ..Default::default()
        };
        assert_eq!(resolved(&by_name, "bob").unwrap().uid, 33);
        let negative = LinuxContainerSecurity {
            run_as_user: Some(-1),
            ..Default::default()
        };
        assert!(resolved(&negative, "").is_err());
    }
}
