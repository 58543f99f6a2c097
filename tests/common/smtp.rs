//! An SMTP stand-in on loopback: enough of RFC 5321 for lettre's client, with a switch for how
//! it misbehaves (refuse at the greeting, refuse the first messages, hang), and a record of
//! every message it accepted.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Accept every message.
    Accept,
    /// `421` at the greeting: the server is not taking mail now.
    Down,
    /// `451` to `MAIL FROM` for the first `n` messages, then accept.
    RefuseFirst(usize),
    /// Accept the connection and never say a word.
    Hang,
}

pub struct Smtp {
    pub port: u16,
    state: Arc<State>,
}

struct State {
    mode: Mutex<Mode>,
    /// `MAIL FROM` commands seen (attempts that got that far).
    attempts: AtomicUsize,
    /// Connections accepted.
    connections: AtomicUsize,
    accepted: Mutex<Vec<String>>,
}

impl Smtp {
    pub fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            mode: Mutex::new(mode),
            attempts: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            accepted: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Self { port, state }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// The raw DATA of every accepted message, in order.
    pub fn messages(&self) -> Vec<String> {
        self.state.accepted.lock().unwrap().clone()
    }

    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Waits (at most `secs`) until `n` messages were accepted.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "expected {n} messages, the stand-in accepted {}",
            self.messages().len()
        );
    }
}

fn serve(stream: TcpStream, state: &State) -> std::io::Result<()> {
    state.connections.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().unwrap();
    let mut out = stream.try_clone()?;
    match mode {
        Mode::Hang => {
            std::thread::sleep(Duration::from_secs(30));
            return Ok(());
        }
        Mode::Down => {
            out.write_all(b"421 4.3.2 stand-in is down\r\n")?;
            return Ok(());
        }
        _ => out.write_all(b"220 stand-in ESMTP\r\n")?,
    }
    let mut lines = BufReader::new(stream);
    let mut line = String::new();
    let mut refuse_this = false;
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        if command.starts_with("EHLO") || command.starts_with("HELO") {
            out.write_all(b"250-stand-in\r\n250 8BITMIME\r\n")?;
        } else if command.starts_with("MAIL FROM") {
            let n = state.attempts.fetch_add(1, Ordering::SeqCst);
            refuse_this = matches!(mode, Mode::RefuseFirst(first) if n < first);
            if refuse_this {
                out.write_all(b"451 4.3.0 stand-in says try again later\r\n")?;
            } else {
                out.write_all(b"250 2.1.0 ok\r\n")?;
            }
        } else if command.starts_with("RCPT TO") {
            out.write_all(if refuse_this {
                b"503 5.5.1 no sender\r\n"
            } else {
                b"250 2.1.5 ok\r\n"
            })?;
        } else if command == "DATA" {
            out.write_all(b"354 go ahead\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            state.accepted.lock().unwrap().push(data);
            out.write_all(b"250 2.0.0 queued\r\n")?;
        } else if command == "RSET" || command == "NOOP" {
            out.write_all(b"250 ok\r\n")?;
        } else if command == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            out.write_all(b"502 5.5.2 not implemented\r\n")?;
        }
    }
}
