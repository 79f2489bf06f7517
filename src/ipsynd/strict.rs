//! StrictModes for ipsynd (spec §11.1): the directories whose writers decide what ipsynd
//! does must be safe to trust before it starts, and running as root is said aloud.
//!
//! Whoever can write `spool/syn/control` can ask for transmissions; `x/` holds the in-use
//! flags, the pid file and the control requests; `log/` the logs and status; `tables/syn`
//! names the program ipsynd executes. Each must be owned by ipsynd's user or root and be
//! writable by neither group nor others unless sticky (`sys::safedir`). The daemon refuses
//! to start on any of these; `ipsynd -n` reports them.

use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::fip::paths;
use crate::sys::safedir::{self, user_name};

/// A directory ipsynd does not trust, and why (the message names path, owner and mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distrust {
    pub path: PathBuf,
    pub why: String,
}

impl fmt::Display for Distrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.why)
    }
}

/// The directories checked, in the order they are reported.
pub fn checked_dirs(root: &Path) -> Vec<PathBuf> {
    vec![
        paths::control(root),
        paths::x(root),
        paths::log(root),
        paths::tables_syn(root),
    ]
}

/// Every directory of [`checked_dirs`] that is not safe for a daemon running as `uid`.
pub fn unsafe_dirs(root: &Path, uid: u32) -> Vec<Distrust> {
    checked_dirs(root)
        .iter()
        .filter_map(|d| safedir::check(d, uid).err())
        .map(|u| Distrust {
            why: u.to_string(),
            path: u.path,
        })
        .collect()
}

/// The request directory `x/ctl` takes commands: only `uid` may write it, so it must be
/// `uid`'s and writable by nobody else, sticky bit or not.
pub fn private_dir(path: &Path, uid: u32) -> Result<(), Distrust> {
    let fail = |why: String| {
        Err(Distrust {
            path: path.to_path_buf(),
            why,
        })
    };
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    let mode = md.permissions().mode() & 0o7777;
    if !md.is_dir() {
        return fail(format!("{} is not a directory", path.display()));
    }
    if md.uid() != uid || mode & 0o022 != 0 {
        return fail(format!(
            "{} takes commands for ipsynd, so only {} may write it; it is owned by {} (mode {mode:04o})",
            path.display(),
            user_name(uid),
            user_name(md.uid())
        ));
    }
    Ok(())
}

/// The warning for a daemon running as root, unless `root:yes` says it is meant.
pub fn root_warning(euid: u32, root_ok: bool) -> Option<&'static str> {
    (euid == 0 && !root_ok).then_some(
        "WARNING: running as root; run ipsynd as the FIP user, or set root:yes in tables/syn/IPSYND if this is meant",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn root_is_warned_about_unless_meant() {
        assert!(root_warning(0, false).is_some());
        assert_eq!(root_warning(0, true), None);
        assert_eq!(root_warning(1000, false), None);
    }

    #[test]
    fn each_directory_is_judged() {
        let root = std::env::temp_dir().join(format!("ipsynd-strict-{}", std::process::id()));
        for d in checked_dirs(&root) {
            fs::create_dir_all(&d).unwrap();
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let me = nix::unistd::geteuid().as_raw();
        assert!(unsafe_dirs(&root, me).is_empty());
        fs::set_permissions(root.join("x"), fs::Permissions::from_mode(0o777)).unwrap();
        fs::set_permissions(root.join("log"), fs::Permissions::from_mode(0o1777)).unwrap();
        let bad = unsafe_dirs(&root, me);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].path, root.join("x"));
        let ctl = root.join("ctl");
        fs::create_dir(&ctl).unwrap();
        fs::set_permissions(&ctl, fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(private_dir(&ctl, me), Ok(()));
        fs::set_permissions(&ctl, fs::Permissions::from_mode(0o1733)).unwrap();
        let e = private_dir(&ctl, me).unwrap_err().to_string();
        assert!(e.contains("mode 1733"), "{e}");
        fs::set_permissions(&ctl, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(private_dir(&ctl, me + 1).is_err(), "another user's");
        fs::remove_dir_all(&root).unwrap();
    }
}
