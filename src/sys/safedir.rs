//! Is a directory safe to trust? The check OpenSSH's StrictModes and `postfix check` make.
//!
//! A directory another local user can write is a security question: whoever can write it can
//! replace a socket, plant a symlink, or drop a file the daemon acts on. A directory is safe
//! when it exists, is a directory (a symlink to one is judged by its target), is owned by the
//! daemon's user or by root, and is writable by neither group nor others, unless its sticky bit
//! is set (then nobody can rename or remove another user's entries, as in `/tmp`).

use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a directory is not safe, with what the operator needs to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsafeDir {
    pub path: PathBuf,
    pub what: Unsafe,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unsafe {
    /// It does not exist or cannot be examined (the error text).
    Missing(String),
    /// It exists but is not a directory.
    NotADirectory,
    /// Owned by a user who is neither the daemon's user nor root.
    WrongOwner { uid: u32, mode: u32, want: u32 },
    /// Writable by group and/or others without the sticky bit.
    Writable { uid: u32, mode: u32 },
}

impl fmt::Display for UnsafeDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.what {
            Unsafe::Missing(e) => write!(f, "{p}: {e}"),
            Unsafe::NotADirectory => write!(f, "{p} is not a directory"),
            Unsafe::WrongOwner { uid, mode, want } => write!(
                f,
                "{p} is owned by {} (mode {mode:04o}), not by {} or root",
                user_name(*uid),
                user_name(*want)
            ),
            Unsafe::Writable { uid, mode } => {
                let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
                    (true, true) => "group and others",
                    (true, false) => "group",
                    _ => "others",
                };
                write!(
                    f,
                    "{p} is writable by {who} (mode {mode:04o}, owner {}) and has no sticky bit",
                    user_name(*uid)
                )
            }
        }
    }
}

/// A user's name for messages, or the number where it has none.
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("{} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

/// Check that `path` is a directory that only `owner` (or root) can change.
pub fn check(path: &Path, owner: u32) -> Result<(), UnsafeDir> {
    let fail = |what| {
        Err(UnsafeDir {
            path: path.to_path_buf(),
            what,
        })
    };
    let md = match std::fs::metadata(path) {
        Ok(md) => md,
        Err(e) => return fail(Unsafe::Missing(e.to_string())),
    };
    if !md.is_dir() {
        return fail(Unsafe::NotADirectory);
    }
    judge(md.uid(), md.permissions().mode() & 0o7777, owner).map_or(Ok(()), fail)
}

/// The rule itself, on owner and mode alone.
fn judge(uid: u32, mode: u32, owner: u32) -> Option<Unsafe> {
    if uid != owner && uid != 0 {
        return Some(Unsafe::WrongOwner {
            uid,
            mode,
            want: owner,
        });
    }
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky {
        return Some(Unsafe::Writable { uid, mode });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn owner_or_root_without_group_or_other_write_is_safe() {
        assert_eq!(judge(1000, 0o755, 1000), None);
        assert_eq!(judge(0, 0o750, 1000), None);
        assert_eq!(judge(1000, 0o700, 1000), None);
    }

    #[test]
    fn group_or_other_write_is_unsafe_unless_sticky() {
        assert!(matches!(
            judge(1000, 0o777, 1000),
            Some(Unsafe::Writable { .. })
        ));
        assert!(matches!(
            judge(1000, 0o775, 1000),
            Some(Unsafe::Writable { .. })
        ));
        assert!(matches!(
            judge(0, 0o757, 1000),
            Some(Unsafe::Writable { .. })
        ));
        assert_eq!(judge(0, 0o1777, 1000), None, "sticky, as /tmp");
    }

    #[test]
    fn another_users_directory_is_unsafe() {
        assert!(matches!(
            judge(1001, 0o755, 1000),
            Some(Unsafe::WrongOwner { .. })
        ));
    }

    #[test]
    fn check_reads_the_real_directory_and_names_path_owner_and_mode() {
        let dir = std::env::temp_dir().join(format!("safedir-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check(&dir, me), Ok(()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let e = check(&dir, me).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(&dir.display().to_string()), "{text}");
        assert!(text.contains("0777"), "{text}");
        assert!(text.contains("group and others"), "{text}");
        let file = dir.join("f");
        fs::write(&file, "").unwrap();
        assert_eq!(check(&file, me).unwrap_err().what, Unsafe::NotADirectory);
        assert!(matches!(
            check(&dir.join("nope"), me).unwrap_err().what,
            Unsafe::Missing(_)
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
