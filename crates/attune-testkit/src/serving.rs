//! A server process (the real `attune-cloud serve …`) on 127.0.0.1:0: started, its JSON log
//! read until it says where it listens, the log kept and drained so the server never blocks on a
//! full pipe; stopped by SIGTERM, or killed when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Serving {
    child: Child,
    /// `http://ADDR`, from the log line that says it listens.
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Serving {
    /// Spawns `command` (its stdout piped, stderr discarded) and waits up to 30 s for a JSON log
    /// line whose message says "listening" and which carries `addr`.
    pub fn start(mut command: Command) -> Serving {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let listening = v["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("listening"));
                    if let (true, Some(a)) = (listening, v["addr"].as_str()) {
                        let _ = tx.send(format!("http://{a}"));
                    }
                }
                kept.lock().unwrap().push(line);
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server said where it listens");
        Serving {
            child,
            url,
            log,
            reader: Some(reader),
        }
    }

    /// SIGTERM; the server must exit cleanly. Returns its whole log.
    ///
    /// The server logs "listening" before it installs its SIGTERM handler: one answered request
    /// first, so the signal meets the handler and not the default action.
    pub fn stop(mut self) -> Vec<String> {
        self.answer_one_request();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit:?}");
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        self.log.lock().unwrap().clone()
    }
}

impl Serving {
    /// Sends `GET /health` and reads the answer to its end (whatever it says).
    fn answer_one_request(&self) {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = write!(
            s,
            "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        let _ = s.read_to_end(&mut Vec::new());
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
