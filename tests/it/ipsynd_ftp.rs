//! FTP mode end to end: ipsynd drives the real system ftp client against a real pyftpdlib
//! server on 127.0.0.1 (random port, temporary home), and the files really arrive.

use std::fs;
use std::process::{Child, Command, Stdio};

use crate::ipsynd_common::*;

const SERVER: &str = r#"
import sys, os
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
home, portfile = sys.argv[1], sys.argv[2]
a = DummyAuthorizer()
a.add_user("syn", "s3cret", home, perm="elradfmw")
a.add_user("ro", "ro", home, perm="elr")
h = FTPHandler
h.authorizer = a
s = FTPServer(("127.0.0.1", 0), h)
with open(portfile + ".tmp", "w") as f:
    f.write(str(s.socket.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
"#;

struct FtpServer {
    child: Child,
    port: u16,
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ftp client lines of a client that logs in as `syn` and sends into `incoming`, one try.
const INTO_INCOMING: &str =
    "route:ftpbox\nuseftp:\nftpline:user syn,s3cret\nftpline:cd incoming\nretry:1\n";

/// A pyftpdlib server on a random port of 127.0.0.1, home `ftphome` (with `incoming/`), and
/// the ports table's route `ftpbox` to it.
fn ftp_box(fip: &Fip) -> FtpServer {
    let home = fip.path("ftphome");
    fs::create_dir_all(home.join("incoming")).unwrap();
    fs::write(fip.path("ftpd.py"), SERVER).unwrap();
    let portfile = fip.path("ftpd.port");
    let child = Command::new("python3")
        .arg(fip.path("ftpd.py"))
        .arg(&home)
        .arg(&portfile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(fip.path("ftpd.stderr")).unwrap())
        .spawn()
        .expect("python3 (run scripts/setup.sh)");
    let mut srv = FtpServer { child, port: 0 };
    assert!(
        wait_for(WAIT, || fs::read_to_string(&portfile).is_ok()),
        "pyftpdlib did not start: {}",
        fs::read_to_string(fip.path("ftpd.stderr")).unwrap_or_default()
    );
    srv.port = fs::read_to_string(&portfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    fip.ports(&format!("route:ftpbox host:127.0.0.1 port:{}\n", srv.port));
    srv
}

/// The server received `name` into `incoming` and it holds `body`.
#[track_caller]
fn assert_arrived(fip: &Fip, name: &str, body: &str) {
    assert_eq!(
        fs::read_to_string(fip.path("ftphome/incoming").join(name)).unwrap(),
        body
    );
}

#[test]
fn ftp_mode_sends_every_queued_file() {
    let mut fip = Fip::new("ftp");
    let srv = ftp_box(&fip);
    fip.client(
        "FTPCLIENT",
        "route:ftpbox\nuseftp:\nftpline:user syn,s3cret\nftpline:binary\nftpline:cd incoming\nretry:2\ntimeout:0\n",
    );
    for (n, body) in [
        ("one.txt", "first"),
        ("two.txt", "second\n"),
        ("three.bin", "3\u{0}3"),
    ] {
        fip.queue_file("ftpclient", n, body);
    }
    fip.queue_file("ftpclient", ".hidden", "not sent");
    fip.start();
    let ctrl = fip.record("SYN_FTPCLIENT");
    fip.expect_log("FTPCLIENT ftp: 3 files, 3 sent");
    assert!(fip.wait_log("FTPCLIENT attempt 1 done"));
    for (n, body) in [
        ("one.txt", "first"),
        ("two.txt", "second\n"),
        ("three.bin", "3\u{0}3"),
    ] {
        assert_arrived(&fip, n, body);
        assert!(
            !fip.exists(&format!("spool/syn/ftpclient/{n}")),
            "sent files deleted"
        );
    }
    assert!(fip.exists("spool/syn/ftpclient/.hidden"));
    assert!(!ctrl.exists(), "all sent: control record deleted");
    assert!(fip.flags().is_empty(), "ipsynd removed its own flag");
    let leftovers: Vec<String> = fs::read_dir(fip.path("x"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("SYNFTP"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "command file (with the password) deleted: {leftovers:?}"
    );
    // The attempt log holds the display line, ftp's transcript and the summary.
    let logs: Vec<String> = fs::read_dir(fip.path("log/syn"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("FTPCLIENT."))
        .map(|e| fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert!(
        log.lines()
            .next()
            .unwrap()
            .starts_with(&format!("/usr/bin/ftp -dinv 127.0.0.1 {}", srv.port)),
        "{log}"
    );
    assert!(log.contains("226"), "{log}");
    assert!(!log.contains("s3cret"), "password not in the log: {log}");
    assert!(log.contains("FTPCLIENT ftp: 3 files, 3 sent"));
}

#[test]
fn ftp_refused_stor_is_a_failed_attempt_and_keeps_files() {
    let mut fip = Fip::new("ftpro");
    let _srv = ftp_box(&fip);
    fip.client(
        "READONLY",
        "route:ftpbox\nuseftp:/usr/bin/ftp -inv\nftpline:user ro,ro\nretry:2\ntimeout:0\n",
    );
    fip.queue_file("readonly", "a.txt", "a");
    fip.start();
    let ctrl = fip.record("READONLY");
    fip.expect_log("READONLY gave up after 2 attempts");
    assert_eq!(fip.log_count("READONLY ftp: 1 files, 0 sent"), 2);
    assert!(fip.exists("spool/syn/readonly/a.txt"), "unsent file kept");
    assert!(!fip.exists("ftphome/a.txt"));
    assert!(!ctrl.exists());
    assert!(fip.flags().is_empty());
}

#[test]
fn ftp_unreadable_file_is_kept_and_the_rest_is_sent() {
    use std::os::unix::fs::PermissionsExt;
    let mut fip = Fip::new("ftpunread");
    let _srv = ftp_box(&fip);
    fip.client("UNREAD", INTO_INCOMING);
    for n in ["a.txt", "b.txt", "c.txt"] {
        fip.queue_file("unread", n, n);
    }
    // ipsynd (and so ftp) runs as another user, for whom b.txt is unreadable.
    fip.start_as(64102, None);
    fs::set_permissions(
        fip.path("spool/syn/unread/b.txt"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let ctrl = fip.record("UNREAD");
    fip.expect_log("UNREAD ftp: 3 files, 2 sent");
    fip.expect_log("UNREAD gave up after 1 attempts");
    for n in ["a.txt", "c.txt"] {
        assert_arrived(&fip, n, n);
        assert!(!fip.exists(&format!("spool/syn/unread/{n}")));
    }
    assert!(!fip.exists("ftphome/incoming/b.txt"));
    assert!(fip.exists("spool/syn/unread/b.txt"), "unreadable file kept");
    assert!(!ctrl.exists());
    assert!(fip.flags().is_empty());
}

#[test]
fn ftp_never_runs_a_queued_file_name_as_a_command() {
    let mut fip = Fip::new("ftpinject");
    let _srv = ftp_box(&fip);
    fip.client("INJ", INTO_INCOMING);
    fip.queue_file("inj", "fine.txt", "fine");
    // A name holding a newline and an ftp shell escape: written into the command file as
    // is, the second line would run `touch` on this machine (ftp runs in the FIP root).
    let pwned = fip.path("pwned");
    let evil = "evil\n!touch pwned".to_string();
    fip.queue_file("inj", &evil, "evil");
    fip.queue_file("inj", "quo\"te", "quote");
    fip.start();
    let ctrl = fip.record("INJ");
    fip.expect_log("INJ ftp: 3 files, 1 sent");
    fip.expect_log("INJ gave up after 1 attempts");
    assert!(!pwned.exists(), "a file name ran as an ftp command");
    assert_arrived(&fip, "fine.txt", "fine");
    assert!(fip.path("spool/syn/inj").join(&evil).exists(), "kept");
    assert!(fip.exists("spool/syn/inj/quo\"te"), "kept");
    assert!(
        fip.log().contains("cannot be passed to ftp"),
        "{}",
        fip.log()
    );
    assert!(!ctrl.exists());
}
