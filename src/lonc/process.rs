//! What lonc's start-up and its supervisor share, so neither imports the other's file: the
//! exit codes (spec §7.8), closing inherited fds in a fresh process, and creating lonc's own
//! directories (at start-up and in HUP's check of a new configuration).

use std::path::Path;

/// Exit codes (spec §7.8).
pub const EXIT_OK: i32 = 0;
pub const EXIT_STARTUP: i32 = 1;
pub const EXIT_RUNNING: i32 = 2;
pub const EXIT_USAGE: i32 = 64;

/// Create `dir` (and its parents) if missing, the last one mode 0755 whatever the umask, so a
/// directory lonc makes itself never fails its own StrictModes check.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Close every fd above stderr (in a fresh child: the parent's probe sockets, pipes, logs).
pub fn close_inherited_fds() {
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => (3..1024).collect(),
    };
    for fd in fds.into_iter().filter(|&fd| fd > 2) {
        // SAFETY: nothing in this process uses these fds any more; the objects owning them
        // belong to the parent's state, which the child never touches or drops.
        unsafe {
            libc::close(fd);
        }
    }
}
