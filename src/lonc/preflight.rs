//! What a start checks beyond the contents of the config and hosts.tab (spec §8.2): the user
//! lonc runs as, and the directories it trusts (StrictModes) and writes. One list of findings
//! that `lonc -n` prints, a real start and a HUP refuse on (`fatal`), with each finding naming
//! the path (or the config, for the user) so the operator knows what to fix.

use std::path::{Path, PathBuf};

use nix::unistd::{access, AccessFlags, Uid, User};

use super::config::{LoncConfig, Problem};
use crate::sys::safedir::{self, Unsafe};

/// 1.29's user check: the configured user must be the real user. Run as root, the message
/// also says how to do that on purpose.
pub fn user_problem(cfg: &LoncConfig) -> Option<Problem> {
    let me = nix::unistd::getuid();
    match User::from_name(&cfg.user) {
        Ok(Some(u)) if u.uid == me => None,
        _ => {
            let mut msg = format!("User ID mismatch. lonc must be run as user {}.", cfg.user);
            if me.is_root() {
                msg.push_str(" (Running as root; set PerlSetVar loncUser root to mean it.)");
            }
            Some(Problem::fatal(&cfg.path, 0, msg))
        }
    }
}

/// A warning when lonc runs as root although the config does not say so on purpose.
pub fn root_warning(cfg: &LoncConfig) -> Option<Problem> {
    (nix::unistd::geteuid().is_root() && cfg.user != "root").then(|| {
        Problem::warning(
            &cfg.path,
            0,
            format!(
                "running as root although loncUser is {:?}; set loncUser root if that is meant",
                cfg.user
            ),
        )
    })
}

/// The uid the directories must belong to (or root): the configured user's, else our own.
fn owner_uid(cfg: &LoncConfig) -> u32 {
    match User::from_name(&cfg.user) {
        Ok(Some(u)) => u.uid.as_raw(),
        _ => Uid::current().as_raw(),
    }
}

/// How lonc uses a directory: whether a start creates it if missing, and whether a missing or
/// unwritable one stops the start.
#[derive(Clone, Copy)]
struct Use {
    /// Only others writing it is a risk (`lonSockDir`, `delayed`, `logs`).
    trusted: bool,
    /// lonc itself creates it when missing (a missing one is a warning for `-n`).
    created: bool,
    /// Not being able to write it stops the start (else: a warning, the daemon carries on).
    needed: bool,
}

/// The directories lonc trusts or writes, with how it uses each.
fn directories(cfg: &LoncConfig) -> Vec<(PathBuf, Use, &'static str)> {
    let trusted = |created| Use {
        trusted: true,
        created,
        needed: true,
    };
    vec![
        (
            cfg.lon_daemons.join("logs"),
            trusted(false),
            "lonc.log, lonnet.perm.log and lonc.pid",
        ),
        (cfg.lon_sock_dir.clone(), trusted(true), "the peer sockets"),
        (
            cfg.delayed_dir(),
            Use {
                trusted: true,
                created: false,
                needed: false,
            },
            "delayed messages",
        ),
        (
            cfg.status_txt()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            Use {
                trusted: false,
                created: true,
                needed: false,
            },
            "the status page",
        ),
    ]
}

/// Every problem with the directories: other users can write a trusted one (fatal), one lonc
/// needs is missing or unwritable (fatal), or one it can do without (warning).
pub fn directory_problems(cfg: &LoncConfig) -> Vec<Problem> {
    let owner = owner_uid(cfg);
    let mut out = Vec::new();
    for (dir, how, what) in directories(cfg) {
        let severity = |msg: String| {
            if how.needed {
                Problem::fatal(&dir, 0, msg)
            } else {
                Problem::warning(&dir, 0, msg)
            }
        };
        match safedir::check(&dir, owner) {
            Ok(()) => {}
            Err(e) => match e.what {
                Unsafe::Missing(_) if how.created => {
                    // A start makes it; its parent must let us.
                    let parent = dir.parent().unwrap_or(Path::new("/"));
                    if access(parent, AccessFlags::W_OK).is_err() {
                        out.push(severity(format!(
                            "does not exist and cannot be created in {} (for {what})",
                            parent.display()
                        )));
                    } else {
                        out.push(Problem::warning(
                            &dir,
                            0,
                            format!("does not exist; lonc creates it (for {what})"),
                        ));
                    }
                    continue;
                }
                Unsafe::Missing(err) => {
                    out.push(severity(format!("{err} (for {what})")));
                    continue;
                }
                Unsafe::NotADirectory => {
                    out.push(Problem::fatal(
                        &dir,
                        0,
                        format!("is not a directory (for {what})"),
                    ));
                    continue;
                }
                Unsafe::WrongOwner { .. } | Unsafe::Writable { .. } if how.trusted => {
                    let text = e.to_string();
                    let text = text
                        .strip_prefix(&dir.display().to_string())
                        .unwrap_or(&text)
                        .trim_start()
                        .to_string();
                    out.push(Problem::fatal(
                        &dir,
                        0,
                        format!("{text}; whoever can write it could tamper with {what}"),
                    ));
                    continue;
                }
                _ => {}
            },
        }
        if access(&dir, AccessFlags::W_OK | AccessFlags::X_OK).is_err() {
            out.push(severity(format!(
                "is not writable by {} (for {what})",
                safedir::user_name(Uid::current().as_raw())
            )));
        }
    }
    out
}

/// Everything a real start refuses or warns about beyond the files' contents.
pub fn environment_problems(cfg: &LoncConfig) -> Vec<Problem> {
    let mut out: Vec<Problem> = user_problem(cfg).into_iter().collect();
    out.extend(root_warning(cfg));
    out.extend(directory_problems(cfg));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn cfg_in(dir: &Path) -> LoncConfig {
        let me = User::from_uid(Uid::current()).unwrap().unwrap().name;
        let d = dir.display();
        let text = format!(
            "PerlSetVar lonDaemons {d}\nPerlSetVar lonTabDir {d}/tabs\n\
             PerlSetVar lonSockDir {d}/sockets\nPerlSetVar londPort 5663\n\
             PerlSetVar lonHostID h\nPerlSetVar lonDocRoot {d}/html\nPerlSetVar loncUser {me}\n"
        );
        LoncConfig::parse(&text, &dir.join("access.conf"))
            .unwrap()
            .0
    }

    #[test]
    fn root_is_warned_about_unless_loncuser_says_root() {
        let dir = std::env::temp_dir();
        let mut cfg = cfg_in(&dir);
        let root = nix::unistd::geteuid().is_root();
        cfg.user = "www-data".into();
        assert_eq!(root_warning(&cfg).is_some(), root);
        let p = user_problem(&cfg).expect("not www-data");
        assert!(p.fatal);
        assert!(p
            .msg
            .starts_with("User ID mismatch. lonc must be run as user www-data."));
        assert_eq!(p.msg.contains("loncUser root"), root, "{}", p.msg);
        cfg.user = "root".into();
        assert!(root_warning(&cfg).is_none());
    }

    #[test]
    fn safe_tree_has_only_the_created_ones_as_warnings() {
        let dir = std::env::temp_dir().join(format!("lonc-preflight-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for d in ["logs", "sockets/delayed", "html"] {
            fs::create_dir_all(dir.join(d)).unwrap();
            fs::set_permissions(dir.join(d), fs::Permissions::from_mode(0o755)).unwrap();
        }
        let cfg = cfg_in(&dir);
        let p = directory_problems(&cfg);
        // lon-status is made by the first status write.
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(!p[0].fatal && p[0].msg.contains("lonc creates it"), "{p:?}");

        fs::set_permissions(dir.join("sockets"), fs::Permissions::from_mode(0o777)).unwrap();
        let p = directory_problems(&cfg);
        let bad: Vec<&Problem> = p.iter().filter(|p| p.fatal).collect();
        assert_eq!(bad.len(), 1, "{p:?}");
        assert_eq!(bad[0].file, dir.join("sockets"));
        assert!(bad[0].msg.contains("mode 0777"), "{}", bad[0]);
        fs::set_permissions(dir.join("sockets"), fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(directory_problems(&cfg).iter().all(|p| !p.fatal));

        fs::remove_dir_all(dir.join("logs")).unwrap();
        let p = directory_problems(&cfg);
        assert!(
            p.iter().any(|p| p.fatal && p.file == dir.join("logs")),
            "{p:?}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
