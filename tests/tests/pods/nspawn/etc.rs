//! The name files an app finds in `/etc`: its pod's hostname in `/etc/hostname` and
//! `/etc/hosts` next to localhost; with `--net=host`, the host's resolver configuration.

use super::app::{App, run};
use super::store;

#[test]
fn etc_names_the_pod() {
    let pods = store();
    let script = "cat /etc/hostname; \
                  grep -w localhost /etc/hosts | grep -q 127.0.0.1 && echo localhost; \
                  grep -w web-2 /etc/hosts | cut -f1 -d' ' | cut -f1; \
                  grep -c nameserver /etc/resolv.conf; true";
    let out = run(
        &pods,
        &["--hostname", "web-2", "--net=none"],
        &[App::sh("names", script)],
    );
    assert!(out.success(), "{out}");
    let lines = out.lines();
    assert_eq!(lines[..2], ["web-2", "localhost"], "{out}");
    assert!(
        lines.get(2).is_some_and(|ip| ip.starts_with("127.")),
        "/etc/hosts does not map the pod's hostname to loopback:\n{out}"
    );
    // --net=none: no name servers to offer.
    assert_eq!(
        lines.get(3),
        Some(&"0"),
        "--net=none lists name servers:\n{out}"
    );

    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let out = run(
        &pods,
        &["--net=host"],
        &[App::sh("resolv", "cat /etc/resolv.conf")],
    );
    assert!(out.success(), "{out}");
    assert_eq!(
        out.stdout, host_resolv,
        "--net=host: the host's resolv.conf"
    );
}
