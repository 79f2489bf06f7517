//! FTP mode (spec §7, §10.2): ipsynd is the transmitter. It snapshots the queue, writes the
//! command file (mode 0600, in `x/`), runs the ftp client with it on stdin and its output
//! appended to the attempt log, then judges each file by the server's reply to its STOR.
//!
//! The run is asynchronous like any attempt: [`prepare`] before the spawn, [`finish`] after
//! the daemon's reaping loop collected the ftp process.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::fipseq::split_words;
use super::ftpscript::{command_file, ftp_safe, judge};
use super::log::Log;
use crate::fip::paths::{queue_dir, queue_name};
use crate::fip::queue::queue_files;
use crate::fip::tables::{ClientParams, PhysPort};
use crate::sys::reap::ExitKind;

/// File-name prefix of FTP command files in `x/` (`SYNFTP|nnn|CLIENT`, same `nnn` as the
/// attempt's flag).
pub const CMD_PREFIX: &str = "SYNFTP|";

/// What a running FTP attempt needs when it ends.
#[derive(Debug)]
pub struct FtpJob {
    /// The command file (holds a password; deleted when ftp ends).
    pub cmdfile: PathBuf,
    /// The snapshot of the queue: `(path, remote name)`.
    pub files: Vec<(PathBuf, String)>,
    /// Where ftp's output starts in the attempt log.
    pub log_offset: u64,
}

/// The ftp argv: the `useftp:` words, then the host and (if not 0) the port.
pub fn ftp_argv(ftpcmd: &str, port: Option<&PhysPort>) -> Vec<String> {
    let mut argv = split_words(ftpcmd);
    if let Some(p) = port {
        argv.push(p.host.clone());
        if p.port != 0 {
            argv.push(p.port.to_string());
        }
    }
    argv
}

/// Snapshot the queue and write the command file. `Ok(None)` when the queue is empty.
pub fn prepare(
    log: &Log,
    root: &Path,
    xdir: &Path,
    cp: &ClientParams,
    ftpcmd: &str,
    port: Option<&PhysPort>,
    seq: u32,
) -> io::Result<Option<(Vec<String>, FtpJob, fs::File)>> {
    let qdir = queue_dir(root, &queue_name(&cp.name));
    let files = queue_files(&qdir)?;
    if files.is_empty() {
        return Ok(None);
    }
    for (path, name) in &files {
        if !ftp_safe(&path.to_string_lossy()) || !ftp_safe(name) {
            log.line(
                &cp.name,
                &format!(
                    "ftp: not sent {name:?}: its name cannot be passed to ftp (control character or double quote); kept"
                ),
            );
        }
    }
    let cmdfile = xdir.join(format!("{CMD_PREFIX}{seq:03}|{}", cp.name));
    let _ = fs::remove_file(&cmdfile); // a left-over of a crash; we own this name
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&cmdfile)?;
    f.write_all(command_file(&cp.ftplines, &files).as_bytes())?;
    f.seek(io::SeekFrom::Start(0))?;
    let argv = ftp_argv(ftpcmd, port);
    Ok(Some((
        argv,
        FtpJob {
            cmdfile,
            files,
            log_offset: 0,
        },
        f,
    )))
}

/// ftp ended: judge, delete what was sent, delete the command file, append the summary
/// line. Returns (sent, total): whether the record goes is the core's (`Event::FtpResult`).
pub fn finish(d: &Log, client: &str, log: &Path, job: &FtpJob, how: ExitKind) -> (usize, usize) {
    let _ = fs::remove_file(&job.cmdfile);
    let mut output = String::new();
    if let Ok(mut f) = fs::File::open(log) {
        if f.seek(io::SeekFrom::Start(job.log_offset)).is_ok() {
            let mut buf = Vec::new();
            let _ = f.read_to_end(&mut buf);
            output = String::from_utf8_lossy(&buf).into_owned();
        }
    }
    let verdict = judge(&output, &job.files);
    let mut sent = 0;
    for ((path, _), ok) in job.files.iter().zip(&verdict) {
        if *ok {
            sent += 1;
            if let Err(e) = fs::remove_file(path) {
                d.line(
                    client,
                    &format!("ftp: unable to delete sent {}: {e}", path.display()),
                );
            }
        }
    }
    let n = job.files.len();
    let summary = format!("ftp: {n} files, {sent} sent, {how}");
    if let Ok(mut f) = crate::sys::logfile::open_append(log, crate::sys::logfile::SECRET_MODE) {
        let _ = writeln!(
            f,
            "{} {client} {summary}",
            chrono::Local::now().format("%d %b %Y %H:%M:%S")
        );
    }
    d.line(client, &summary);
    (sent, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_appends_host_and_nonzero_port() {
        let p = PhysPort {
            host: "127.0.0.1".into(),
            port: 2121,
        };
        assert_eq!(
            ftp_argv("/usr/bin/ftp -dinv", Some(&p)),
            ["/usr/bin/ftp", "-dinv", "127.0.0.1", "2121"]
        );
        let p0 = PhysPort {
            host: "box".into(),
            port: 0,
        };
        assert_eq!(ftp_argv("ftp -inv", Some(&p0)), ["ftp", "-inv", "box"]);
        assert_eq!(ftp_argv("ftp", None), ["ftp"]);
    }
}
