//! Persisted metadata: sandboxes, containers and images in an embedded database (redb).
//!
//! Each record is stored as JSON under its id, one table per kind. Writes go through at once
//! (one transaction per change), so a daemon killed at any point restarts with every committed
//! change; [`Store::load`] reads everything back.

use crate::model::ImageRecord;
use crate::runtime::{Container, Sandbox};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

const SANDBOXES: TableDefinition<&str, &[u8]> = TableDefinition::new("sandboxes");
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");

/// Failures of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened.
    #[error("opening metadata database {path}: {message}")]
    Open {
        /// Database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A read or write failed.
    #[error("metadata database {operation}: {message}")]
    Io {
        /// What was being done.
        operation: String,
        /// What went wrong.
        message: String,
    },
    /// A stored record could not be decoded.
    #[error("metadata record {table}/{key} is corrupt: {message}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Key.
        key: String,
        /// What went wrong.
        message: String,
    },
}

impl crate::error::Classify for StoreError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Internal
    }
}

/// Everything the store holds, as read back at start-up.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Pod sandboxes.
    pub sandboxes: Vec<Sandbox>,
    /// Containers.
    pub containers: Vec<Container>,
    /// Images.
    pub images: Vec<ImageRecord>,
}

/// The metadata database. Clones share one open database.
#[derive(Clone)]
pub struct Store {
    db: std::sync::Arc<redb::Database>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn io_error(operation: impl Into<String>) -> impl FnOnce(redb::Error) -> StoreError {
    let operation = operation.into();
    move |e| StoreError::Io {
        operation,
        message: e.to_string(),
    }
}

impl Store {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        }
        let db = redb::Database::create(path).map_err(|e| StoreError::Open {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let store = Store {
            db: std::sync::Arc::new(db),
        };
        store.create_tables()?;
        Ok(store)
    }

    /// A database held in memory only, for tests.
    pub fn in_memory() -> Result<Store, StoreError> {
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Open {
                path: PathBuf::from(":memory:"),
                message: e.to_string(),
            })?;
        let store = Store {
            db: std::sync::Arc::new(db),
        };
        store.create_tables()?;
        Ok(store)
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| io_error("begin")(e.into()))?;
        for table in [SANDBOXES, CONTAINERS, IMAGES] {
            txn.open_table(table)
                .map_err(|e| io_error("create table")(e.into()))?;
        }
        txn.commit().map_err(|e| io_error("commit")(e.into()))
    }

    fn put<T: Serialize>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Io {
            operation: format!("encode {key}"),
            message: e.to_string(),
        })?;
        let txn = self
            .db
            .begin_write()
            .map_err(|e| io_error("begin")(e.into()))?;
        {
            let mut t = txn
                .open_table(table)
                .map_err(|e| io_error("open table")(e.into()))?;
            t.insert(key, bytes.as_slice())
                .map_err(|e| io_error(format!("write {key}"))(e.into()))?;
        }
        txn.commit().map_err(|e| io_error("commit")(e.into()))
    }

    fn delete(&self, table: TableDefinition<&str, &[u8]>, key: &str) -> Result<(), StoreError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| io_error("begin")(e.into()))?;
        {
            let mut t = txn
                .open_table(table)
                .map_err(|e| io_error("open table")(e.into()))?;
            t.remove(key)
                .map_err(|e| io_error(format!("delete {key}"))(e.into()))?;
        }
        txn.commit().map_err(|e| io_error("commit")(e.into()))
    }

    fn read_all<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        name: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| io_error("begin read")(e.into()))?;
        let t = txn
            .open_table(table)
            .map_err(|e| io_error("open table")(e.into()))?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(|e| io_error("iterate")(e.into()))? {
            let (key, value) = entry.map_err(|e| io_error("read")(e.into()))?;
            let record =
                serde_json::from_slice(value.value()).map_err(|e| StoreError::Corrupt {
                    table: name,
                    key: key.value().to_string(),
                    message: e.to_string(),
                })?;
            out.push(record);
        }
        Ok(out)
    }

    /// Saves a sandbox.
    pub fn put_sandbox(&self, sandbox: &Sandbox) -> Result<(), StoreError> {
        self.put(SANDBOXES, &sandbox.id, sandbox)
    }

    /// Forgets a sandbox.
    pub fn delete_sandbox(&self, id: &str) -> Result<(), StoreError> {
        self.delete(SANDBOXES, id)
    }

    /// Saves a container.
    pub fn put_container(&self, container: &Container) -> Result<(), StoreError> {
        self.put(CONTAINERS, &container.id, container)
    }

    /// Forgets a container.
    pub fn delete_container(&self, id: &str) -> Result<(), StoreError> {
        self.delete(CONTAINERS, id)
    }

    /// Saves an image record.
    pub fn put_image(&self, image: &ImageRecord) -> Result<(), StoreError> {
        self.put(IMAGES, &image.id, image)
    }

    /// Forgets an image record.
    pub fn delete_image(&self, id: &str) -> Result<(), StoreError> {
        self.delete(IMAGES, id)
    }

    /// Reads every record back.
    pub fn load(&self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            sandboxes: self.read_all(SANDBOXES, "sandboxes")?,
            containers: self.read_all(CONTAINERS, "containers")?,
            images: self.read_all(IMAGES, "images")?,
        })
    }
}
