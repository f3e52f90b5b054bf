//! `wss://`: the client trusts a private CA from a file, and refuses a
//! server whose certificate it cannot verify. A TLS-terminating proxy in
//! front of the real gateway stands in for the usual load balancer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use vizora_client::{ClientConfig, ConnectionState, Update};
use vizora_gateway::{Auth, Embedded, GatewayConfig};
use vizora_protocol::{Claims, Role, now_ms};

/// Starts a TLS proxy for "localhost" in front of `backend`; returns its port and the CA's PEM.
fn tls_proxy(rt: &tokio::runtime::Runtime, backend: std::net::SocketAddr) -> (u16, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key")).expect("ca");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("server cert");
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .expect("server config");
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, ca.pem())
}

fn wait_for(
    client: &vizora_client::ClientHandle,
    limit: Duration,
    mut want: impl FnMut(&Update) -> bool,
) -> Option<Update> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(u) = client.updates.recv_timeout(Duration::from_millis(100))
            && want(&u)
        {
            return Some(u);
        }
    }
    None
}

#[test]
fn wss_with_a_private_ca_connects_and_an_unknown_ca_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = Auth::hs256(b"wss");
    let gw = Embedded::start(
        GatewayConfig { listen: "127.0.0.1:0".into(), data_dir: dir.path().into(), ..Default::default() },
        auth.clone(),
    )
    .expect("gateway");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (port, ca_pem) = tls_proxy(&rt, gw.addr);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write ca");
    let token = auth
        .mint(&Claims { sub: "w".into(), org: "o".into(), role: Role::Viewer, exp: now_ms() / 1000 + 600, iat: None })
        .expect("mint");
    let url = format!("wss://localhost:{port}");

    let mut cfg = ClientConfig::new(url.clone(), token.clone());
    cfg.ca_file = Some(ca_file);
    let client = vizora_client::spawn(cfg).expect("client");
    let snap = wait_for(&client, Duration::from_secs(15), |u| matches!(u, Update::Snapshot { .. }));
    assert!(snap.is_some(), "a snapshot arrives over wss:// with the private CA trusted");
    client.shutdown();

    // Without the CA the certificate cannot be verified: no session, a reason that says so.
    let client = vizora_client::spawn(ClientConfig::new(url, token)).expect("client");
    let lost = wait_for(&client, Duration::from_secs(15), |u| {
        matches!(u, Update::Connection(ConnectionState::Reconnecting { .. }))
    });
    match lost {
        Some(Update::Connection(ConnectionState::Reconnecting { reason, .. })) => {
            assert!(reason.to_lowercase().contains("certificate"), "reason names the certificate: {reason}")
        }
        other => panic!("expected a refused TLS handshake, got {other:?}"),
    }
    client.shutdown();
    gw.stop();
}
