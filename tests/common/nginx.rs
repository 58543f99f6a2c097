//! nginx in front of several `realmgate` instances, as the multi-instance tests and the load run
//! start it: round robin, kept-alive upstream connections, a configuration written to a
//! directory of the caller's, listening on 127.0.0.1 only.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts nginx, round robin over `upstream`, with kept-alive upstream connections, on 127.0.0.1.
pub fn start(dir: &std::path::Path, port: u16, upstream: &[u16]) -> Child {
    let servers: String = upstream
        .iter()
        .map(|p| format!("server 127.0.0.1:{p}; "))
        .collect();
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let d = dir.display();
    let conf = format!(
        "{user}pid {d}/nginx.pid; error_log {d}/error.log; worker_processes 1;\n\
         events {{ worker_connections 4096; }}\n\
         http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           upstream realmgate {{ {servers} keepalive 128; }}\n\
           server {{ listen 127.0.0.1:{port}; keepalive_requests 100000;\n\
             location / {{ proxy_pass http://realmgate; proxy_set_header Host $http_host;\n\
               proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }} }}\n",
        user = if root { "user root; " } else { "" },
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .args([
            "-p",
            &d.to_string(),
            "-c",
            &format!("{d}/nginx.conf"),
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (apt-get install nginx-light)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A loopback port free at the moment of asking (for a server told to bind it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops nginx as its master expects (SIGTERM), so it takes its workers with it: a SIGKILL
/// (`Child::kill`) ends the master alone and leaves the workers listening.
pub fn stop(child: &mut Child) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
