//! Who reaches whom: pods on `default` reach each other and beyond the host side;
//! `default-restricted` reaches the host side only; published ports from the host's address,
//! from 127.0.0.1 and from the pod itself; a named network with a static address next to
//! `default`; the resolver and hosts files.

use rukt_tests::nethost::TestHost;

use super::{add_network, client, pod_ip, store, web_pod};

#[test]
fn default_pods_reach_each_other_and_beyond_the_host_side() {
    let host = TestHost::new();
    let pods = store(&host);
    let web = web_pod(&pods, &[], 8080);
    let ip = pod_ip(&pods, &web.uuid);
    assert!(ip.starts_with("172.16.28."), "default network address {ip}");
    let got = client(
        &pods,
        &[],
        &format!("timeout 5 wget -q -O - http://{ip}:8080/"),
    );
    assert_eq!(got, "hello from the pod\n");
    // Beyond the bridge: the host's other address, through the default route.
    let route = client(&pods, &[], "ip route show default");
    assert!(route.contains("default via 172.16.28.1"), "{route}");
    let out = client(
        &pods,
        &[],
        &format!("nc -w 3 {} 1 </dev/null 2>&1; true", host.uplink_ip),
    );
    // Nothing listens there: refused, which only an answer from there says.
    assert!(out.contains("Connection refused"), "{out}");
}

#[test]
fn restricted_pods_reach_the_host_side_only() {
    let host = TestHost::new();
    let pods = store(&host);
    // A server on every address of the stand-in host.
    let mut server = std::process::Command::new("nsenter")
        .arg(format!("--net={}", host.path().display()))
        .args([
            "--",
            "busybox",
            "nc",
            "-ll",
            "-p",
            "9000",
            "-e",
            "echo",
            "host-side",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let script = "gw=$(ip route | grep -o 'via [0-9.]*' | head -1 | cut -d' ' -f2); \
                  echo gw=$gw; ip route | grep -c ^default; \
                  nc -w 3 $gw 9000 </dev/null; \
                  nc -w 3 UPLINK 9000 </dev/null 2>&1 || echo beyond-failed";
    let out = client(
        &pods,
        &["--net=default-restricted"],
        &script.replace("UPLINK", &host.uplink_ip),
    );
    let _ = server.kill();
    let _ = server.wait();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("gw=172.31."), "{out}");
    assert_eq!(
        lines[1], "0",
        "a default route on default-restricted:\n{out}"
    );
    assert!(
        out.contains("host-side"),
        "the host side is not reachable:\n{out}"
    );
    assert!(
        out.contains("beyond-failed"),
        "reached beyond the host side:\n{out}"
    );
}

#[test]
fn published_ports_work_from_the_host_localhost_and_the_pod_itself() {
    let host = TestHost::new();
    let pods = store(&host);
    let web = web_pod(&pods, &["-p", "8081:8080"], 8080);
    let from_host = host.sh_ok(&format!(
        "busybox timeout 5 busybox wget -q -O - http://{}:8081/",
        host.uplink_ip
    ));
    assert_eq!(from_host, "hello from the pod\n");
    let from_localhost =
        host.sh_ok("busybox timeout 5 busybox wget -q -O - http://127.0.0.1:8081/");
    assert_eq!(
        from_localhost, "hello from the pod\n",
        "rkt's localhost bug"
    );
    // Hairpin: the pod reaches its own published port through the host's address.
    let script = format!("timeout 5 wget -q -O - http://{}:8081/", host.uplink_ip);
    let hairpin = pods.ok(&["enter", &web.uuid, "/bin/sh", "-c", &script]);
    assert_eq!(hairpin, "hello from the pod\n");
    // Another pod reaches it too.
    assert_eq!(
        client(
            &pods,
            &[],
            &format!("timeout 5 wget -q -O - http://{}:8081/", host.uplink_ip)
        ),
        "hello from the pod\n"
    );
}

#[test]
fn rkt_named_ports_come_from_the_image() {
    let host = TestHost::new();
    let pods = store(&host);
    let mut spec = rukt_tests::pods::pod_image().expose("8080/tcp");
    spec.layers.push(super::net_layer());
    let image = pods.add_image("exposing", spec);
    let script = "httpd -p 8080 -h /www && echo ready && exec sleep 1000";
    let mut args = vec![
        "run",
        "--stage1=nspawn",
        "--port=8080-tcp:8087",
        image.as_str(),
    ];
    args.extend(["--exec", "/bin/sh", "--", "-c", script]);
    let mut child = pods.rukt().command(&args);
    child.stdout(std::process::Stdio::piped());
    let mut child = child.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "ready\n");
    let got = host.sh_ok("busybox timeout 5 busybox wget -q -O - http://127.0.0.1:8087/");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(got, "hello from the pod\n");
    let out = pods.run(&[
        "run",
        "--stage1=nspawn",
        "--port=81-tcp:8088",
        image.as_str(),
    ]);
    assert!(
        out.stderr
            .contains("no image exposes a port of that name (exposed: 8080/tcp)"),
        "{out}"
    );
}

#[test]
fn named_network_with_a_static_address_next_to_default() {
    let host = TestHost::new();
    let pods = store(&host);
    add_network(
        &pods,
        "10-mynet.conflist",
        r#"{"cniVersion":"1.0.0","name":"mynet","plugins":[{"type":"bridge","bridge":"rukt-t1",
            "ipam":{"type":"host-local","ranges":[[{"subnet":"10.214.7.0/24"}]],
            "dataDir":"DATA"}}]}"#
            .replace("DATA", &pods.store().join("net/ipam").display().to_string())
            .as_str(),
    );
    let out = client(
        &pods,
        &["--net=default,mynet:IP=10.214.7.50"],
        "ip -o -4 addr show | grep -v ' lo ' | cut -d' ' -f2,7",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("eth0 172.16.28."), "{out}");
    assert_eq!(lines[1], "eth1 10.214.7.50/24", "{out}");
}

#[test]
fn resolver_and_hosts_files() {
    let host = TestHost::new();
    let pods = store(&host);
    let out = client(
        &pods,
        &[
            "--hostname=web",
            "--dns=192.0.2.53",
            "--dns-search=pods.test",
            "--dns-opt=ndots:3",
            "--hosts-entry=192.0.2.9=db.test",
        ],
        "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; ip -o -4 addr show eth0 | cut -d' ' -f7",
    );
    let parts: Vec<&str> = out.split("---\n").collect();
    assert!(parts[0].contains("nameserver 192.0.2.53\n"), "{out}");
    assert!(
        parts[0].contains("search pods.test\n") && parts[0].contains("options ndots:3\n"),
        "{out}"
    );
    let ip = parts[2].trim().split('/').next().unwrap().to_string();
    assert!(
        parts[1].contains(&format!("{ip}\tweb\n")),
        "hostname not on the pod's address:\n{out}"
    );
    assert!(parts[1].contains("192.0.2.9\tdb.test\n"), "{out}");
    assert!(parts[1].contains("127.0.0.1\tlocalhost"), "{out}");

    // A host whose resolver is systemd-resolved's stub: the pod gets the upstream servers.
    let out = resolved_host_run(&pods, "cat /etc/resolv.conf");
    assert!(out.contains("nameserver 192.0.2.10\n"), "{out}");
    assert!(
        !out.contains("127.0.0.53"),
        "the loopback stub was copied:\n{out}"
    );
}

/// Runs `script` in a pod while the host's `/etc/resolv.conf` is systemd-resolved's stub
/// (127.0.0.53) and its upstream file lists 192.0.2.10: bind mounts in a private mount
/// namespace of this command only.
fn resolved_host_run(pods: &rukt_tests::pods::PodStore, script: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let stub = tmp.path().join("stub");
    std::fs::write(&stub, "nameserver 127.0.0.53\noptions edns0 trust-ad\n").unwrap();
    let args = [
        "run",
        "--stage1=nspawn",
        pods.image.as_str(),
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        script,
    ];
    let inner = pods.rukt().command(&args);
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {} /etc/resolv.conf && mount -t tmpfs tmpfs /run/systemd && \
             mkdir /run/systemd/resolve && echo 'nameserver 192.0.2.10' > /run/systemd/resolve/resolv.conf && \
             exec \"$@\"",
            stub.display()
        ))
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = rukt_tests::rukt::run_command(cmd);
    assert!(out.success(), "{out}");
    out.stdout
}
