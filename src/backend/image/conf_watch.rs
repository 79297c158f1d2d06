//! The registries configuration, re-read when its files change: an edit to
//! `registries.conf` or a new drop-in applies to the next pull without a restart, as it does
//! for CRI-O. A configuration that no longer parses is reported and the last good one kept.

use super::failure::Failure;
use super::registries_conf::RegistriesConf;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// What identifies one version of the configuration files: each file's path, modification
/// time and size (the main file, the drop-in directory and every drop-in in it).
type Stamp = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// A [`RegistriesConf`] that follows its files.
pub struct WatchedConf {
    file: PathBuf,
    loaded: Mutex<Loaded>,
}

struct Loaded {
    conf: Arc<RegistriesConf>,
    stamp: Stamp,
}

impl WatchedConf {
    /// Reads `file` and its drop-ins; a configuration that does not parse is an error here.
    pub fn load(file: &Path) -> Result<WatchedConf, Failure> {
        let stamp = stamp(file);
        let conf = Arc::new(RegistriesConf::load(file)?);
        Ok(WatchedConf {
            file: file.to_path_buf(),
            loaded: Mutex::new(Loaded { conf, stamp }),
        })
    }

    /// The configuration as the files say now: re-read when any of them changed since the
    /// last look (a few `stat` calls otherwise).
    pub fn current(&self) -> Arc<RegistriesConf> {
        let now = stamp(&self.file);
        let mut loaded = self.loaded.lock();
        if now != loaded.stamp {
            match RegistriesConf::load(&self.file) {
                Ok(conf) => {
                    tracing::info!(file = %self.file.display(), "registries configuration reloaded");
                    loaded.conf = Arc::new(conf);
                }
                Err(failure) => tracing::warn!(
                    file = %self.file.display(),
                    error = %failure.message(),
                    "registries configuration changed but does not parse: keeping the last good one"
                ),
            }
            loaded.stamp = now;
        }
        loaded.conf.clone()
    }
}

fn stamp(file: &Path) -> Stamp {
    let look = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
    };
    let mut dropins = PathBuf::from(file.as_os_str());
    dropins.as_mut_os_string().push(".d");
    let mut stamp = vec![
        (file.to_path_buf(), look(file)),
        (dropins.clone(), look(&dropins)),
    ];
    if let Ok(listing) = std::fs::read_dir(&dropins) {
        let mut more: Vec<PathBuf> = listing.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        stamp.extend(more.into_iter().map(|p| {
            let seen = look(&p);
            (p, seen)
        }));
    }
    stamp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_applies_and_a_broken_edit_keeps_the_last_good_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registries.conf");
        let watched = WatchedConf::load(&file).unwrap();
        assert_eq!(watched.current().unqualified_search_registries, None);

        std::fs::write(&file, "unqualified-search-registries = [\"quay.io\"]\n").unwrap();
        assert_eq!(
            watched.current().unqualified_search_registries,
            Some(vec!["quay.io".to_string()])
        );

        let dropins = dir.path().join("registries.conf.d");
        std::fs::create_dir(&dropins).unwrap();
        std::fs::write(
            dropins.join("50-alias.conf"),
            "[aliases]\n\"tool\" = \"example.com/tool\"\n",
        )
        .unwrap();
        assert_eq!(watched.current().aliases["tool"], "example.com/tool");

        std::fs::write(&file, "this is = = not toml").unwrap();
        let kept = watched.current();
        assert_eq!(
            kept.unqualified_search_registries,
            Some(vec!["quay.io".to_string()])
        );
        assert_eq!(kept.aliases["tool"], "example.com/tool");
    }
}
