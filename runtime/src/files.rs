//! Files and directories only their owner may read: the data directory (0700), the
//! SQLite database and its WAL/SHM files, the input trace (0600). They hold message
//! bodies and, in the trace, the per-boot token key. Permissions are set at creation
//! and tightened on files that already exist; parent directories the operator chose
//! are left alone. Unix only (the permissions are Unix modes).

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Mode of private files.
pub const FILE_MODE: u32 = 0o600;
/// Mode of private directories.
pub const DIR_MODE: u32 = 0o700;

/// Opens `path` with `options`, creating it with mode 0600, and sets 0600 on a file
/// that already existed with a wider mode.
pub fn create_private(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    let file = options.mode(FILE_MODE).open(path)?;
    restrict(&file, FILE_MODE)?;
    Ok(file)
}

/// Creates `dir` (and missing parents) and makes `dir` itself 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Creates `dir` and its missing parents with mode 0700; existing directories (the
/// operator's choice, e.g. `/var/lib`) are left as they are.
pub fn missing_dirs(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Creates `path` empty with mode 0600 when missing, or sets 0600 on it, so a
/// library that opens it later (SQLite) finds a private file; SQLite gives its
/// `-wal` and `-shm` files the mode of the database file.
///
/// An existing file is changed by path (chmod), never opened: closing any
/// descriptor of a file drops every POSIX lock this process holds on it, and the
/// database may already be open here (the writer, when the mailbox reader opens).
/// With its locks gone, another process's SQLite connection believes it is the
/// last one, checkpoints and deletes the WAL the writer is still appending to, and
/// later commits are lost.
pub fn private_file(path: &Path) -> io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        // New: nobody else can have it open yet.
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if std::fs::metadata(path)?.permissions().mode() & 0o777 != FILE_MODE {
                std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn restrict(file: &File, mode: u32) -> io::Result<()> {
    if file.metadata()?.permissions().mode() & 0o777 != mode {
        file.set_permissions(Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_and_existing_files_and_dirs_become_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/data");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing directory is tightened");

        let file = dir.join("f");
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600, "an existing file is tightened");
    }
}
