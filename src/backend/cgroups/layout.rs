//! Which cgroup hierarchies this machine has: cgroup v1 controllers, the v2 unified tree, or
//! both (the "hybrid" layout: v1 controllers plus v2 at `/sys/fs/cgroup/unified`).

use std::path::{Path, PathBuf};

/// How cgroups are laid out on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup v1 controllers only.
    V1,
    /// cgroup v1 controllers and a v2 unified hierarchy (usually without controllers).
    Hybrid,
    /// cgroup v2 only.
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted.
    pub mount: PathBuf,
    /// Its controllers (`memory`, `cpu`…; `name=systemd` for a named v1 hierarchy).
    pub controllers: Vec<String>,
    /// Whether it is the v2 unified hierarchy.
    pub unified: bool,
}

/// Every hierarchy a pod cgroup is created in, and the mode they make up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The mode.
    pub mode: CgroupMode,
    /// The hierarchies, v1 ones first.
    pub hierarchies: Vec<Hierarchy>,
}

const V1_CONTROLLERS: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

impl Layout {
    /// The layout of this machine, from `/proc/self/mountinfo`.
    pub fn detect() -> Result<Layout, String> {
        let text = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
        Layout::parse(&text, |mount| {
            std::fs::read_to_string(mount.join("cgroup.controllers"))
                .map(|c| c.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        })
    }

    /// The layout of a mountinfo text; `v2_controllers` reads a unified root's controllers.
    pub fn parse(
        mountinfo: &str,
        v2_controllers: impl Fn(&Path) -> Vec<String>,
    ) -> Result<Layout, String> {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let Some(mount) = left.split(' ').nth(4) else {
                continue;
            };
            let mut right = right.split(' ');
            let (Some(fstype), _, Some(options)) = (right.next(), right.next(), right.next())
            else {
                continue;
            };
            let hierarchy = match fstype {
                "cgroup" => {
                    let controllers: Vec<String> = options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    Hierarchy {
                        mount: PathBuf::from(mount),
                        controllers,
                        unified: false,
                    }
                }
                "cgroup2" => Hierarchy {
                    mount: PathBuf::from(mount),
                    controllers: v2_controllers(Path::new(mount)),
                    unified: true,
                },
                _ => continue,
            };
            // A hierarchy mounted twice is used where it was first mounted.
            let seen = hierarchies.iter().any(|h| {
                h.unified == hierarchy.unified
                    && (h.unified || h.controllers == hierarchy.controllers)
            });
            if !seen {
                hierarchies.push(hierarchy);
            }
        }
        let v1 = hierarchies
            .iter()
            .any(|h| !h.unified && h.controllers.iter().any(|c| !c.starts_with("name=")));
        let v2 = hierarchies.iter().any(|h| h.unified);
        let mode = match (v1, v2) {
            (true, true) => CgroupMode::Hybrid,
            (true, false) => CgroupMode::V1,
            (false, true) => CgroupMode::V2,
            (false, false) => return Err("no cgroup hierarchy is mounted".to_string()),
        };
        if mode == CgroupMode::V2 {
            hierarchies.retain(|h| h.unified);
        }
        hierarchies.sort_by_key(|h| h.unified);
        Ok(Layout { mode, hierarchies })
    }

    /// The hierarchy that holds `controller`'s statistics: a v1 one with it, else the unified
    /// one (in v2 mode, or in hybrid mode when the controller was left to v2).
    pub fn for_controller(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| !h.unified && h.controllers.iter().any(|c| c == controller))
            .or_else(|| {
                self.hierarchies
                    .iter()
                    .find(|h| h.unified && h.controllers.iter().any(|c| c == controller))
            })
    }

    /// The unified hierarchy in v2 mode.
    pub fn v2_root(&self) -> Option<&Hierarchy> {
        (self.mode == CgroupMode::V2)
            .then(|| self.hierarchies.iter().find(|h| h.unified))
            .flatten()
    }

    /// The hierarchy used to find existing cgroups: memory (v1), else the first one.
    pub fn reference(&self) -> &Hierarchy {
        self.for_controller("memory")
            .unwrap_or(&self.hierarchies[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout_uses_v1_controllers() {
        let layout = Layout::parse(HYBRID, |_| vec!["hugetlb".into()]).unwrap();
        assert_eq!(layout.mode, CgroupMode::Hybrid);
        assert_eq!(layout.hierarchies.len(), 6);
        assert_eq!(
            layout.for_controller("cpuacct").unwrap().mount,
            Path::new("/sys/fs/cgroup/cpuacct")
        );
        assert_eq!(
            layout.for_controller("hugetlb").unwrap().mount,
            Path::new("/sys/fs/cgroup/unified")
        );
        assert_eq!(layout.reference().mount, Path::new("/sys/fs/cgroup/memory"));
        assert!(layout.v2_root().is_none());
    }

    #[test]
    fn v2_and_v1_only_layouts() {
        let v2 = "25 20 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let layout =
            Layout::parse(v2, |_| vec!["cpu".into(), "memory".into(), "pids".into()]).unwrap();
        assert_eq!(layout.mode, CgroupMode::V2);
        assert_eq!(
            layout.for_controller("memory").unwrap().mount,
            Path::new("/sys/fs/cgroup")
        );
        let v1: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cgroup2"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(Layout::parse(&v1, |_| vec![]).unwrap().mode, CgroupMode::V1);
        assert!(Layout::parse("", |_| vec![]).is_err());
    }
}
