//! ipsynd with the real default transmitter `ipsyn` sending to a real `ipsyn-recv`.

use std::fs;
use std::process::{Child, Command, Stdio};

use crate::ipsynd_common::*;

struct Recv(Child);
impl Drop for Recv {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ipsyn_delivers_the_queue_to_ipsyn_recv() {
    let mut fip = Fip::new("ipsyn");
    let inbox = fip.path("inbox");
    fs::create_dir_all(&inbox).unwrap();
    let portfile = fip.path("recv.port");
    let _recv = Recv(
        Command::new(env!("CARGO_BIN_EXE_ipsyn-recv"))
            .args(["--listen", "127.0.0.1:0", "--dir"])
            .arg(&inbox)
            .arg("--port-file")
            .arg(&portfile)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(wait_for(WAIT, || fs::read_to_string(&portfile)
        .is_ok_and(|s| !s.trim().is_empty())));
    let port = fs::read_to_string(&portfile).unwrap().trim().to_string();
    fip.ipsynd_table(&format!(
        "ipsyn:{}\nrescan:1\n",
        env!("CARGO_BIN_EXE_ipsyn")
    ));
    fip.ports(&format!(
        "route:wire host:127.0.0.1 port:{port}\nroute:dead host:127.0.0.1 port:1\n"
    ));
    fip.client("PAPER", "route:wire\n");
    for i in 0..5 {
        fip.queue_file(
            "paper",
            &format!("story{i}"),
            &format!("story number {i}\n"),
        );
    }
    fip.start();
    let ctrl = fip.record("SYN_PAPER");
    fip.expect_log("PAPER attempt 1 done");
    assert!(fip.log().contains("transmission complete"));
    for i in 0..5 {
        assert_eq!(
            fs::read_to_string(inbox.join(format!("story{i}"))).unwrap(),
            format!("story number {i}\n")
        );
        assert!(!fip.exists(&format!("spool/syn/paper/story{i}")));
    }
    assert!(!ctrl.exists());
    assert!(fip.flags().is_empty(), "ipsyn deleted its flag");

    // A route whose receiver is down: ipsyn fails, ipsynd retries, then gives up.
    fip.client("NOBODY", "route:dead\nretry:2\ntimeout:0\n");
    fip.queue_file("nobody", "waiting", "x");
    let ctrl = fip.record("NOBODY");
    fip.expect_log("NOBODY gave up after 2 attempts");
    assert!(fip.exists("spool/syn/nobody/waiting"));
    assert!(!ctrl.exists());
    assert!(fip.flags().is_empty());
}
