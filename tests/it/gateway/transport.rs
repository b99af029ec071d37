//! The client's transport security: it never follows a redirect (a 307/308 would re-send the
//! body, a provider credential included, to another origin), and it speaks TLS with a CA bundle
//! of its own and a client certificate (mutual TLS) — set through `portico run`'s flags — to a
//! gateway behind a TLS front that demands one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use portico_gateway_client::{GatewayClient, GatewayClientConfig, GatewayErrorKind, GatewayTls};
use portico_operator::operator::RunArgs;
use rcgen::{CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use secrecy::SecretString;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{TOKEN, gateway, model_spec};

/// Starts a server on another origin that counts what reaches it.
async fn counting_server(hits: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().fallback(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_never_followed() {
    super::init();
    let hits = Arc::new(AtomicUsize::new(0));
    let elsewhere = counting_server(hits.clone()).await;
    for status in [301u16, 302, 307, 308] {
        let target = elsewhere.clone();
        let app = axum::Router::new().fallback(move || {
            let target = target.clone();
            async move {
                axum::http::Response::builder()
                    .status(status)
                    .header("location", format!("{target}/v1/namespaces/ns/models/m"))
                    .body(axum::body::Body::empty())
                    .unwrap_or_default()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener binds");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = GatewayClient::new(GatewayClientConfig::new(url), SecretString::from(TOKEN))
            .expect("client builds");
        // The body carries the provider credential: it must stay where it was sent.
        let error = client
            .upsert_model("ns", "m", &model_spec())
            .await
            .expect_err("a redirect is not a success");
        assert_eq!(error.status(), Some(status), "{error}");
        assert_eq!(
            error.cause(),
            portico_gateway_client::FailureCause::Malformed,
            "{error}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a request followed a redirect to another origin"
    );
}

/// A CA, a server certificate for 127.0.0.1, and a client certificate.
struct Pki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
    client_cert_pem: String,
    client_key_pem: String,
    ca_der: CertificateDer<'static>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params")
        .signed_by(&server_key, &ca)
        .expect("server certificate");
    let client_key = KeyPair::generate().expect("client key");
    let client = CertificateParams::new(vec!["portico-operator".to_string()])
        .expect("client params")
        .signed_by(&client_key, &ca)
        .expect("client certificate");
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_chain: vec![server.der().clone()],
        server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// A TLS front that demands a client certificate signed by the CA and passes the bytes on to
/// `backend`. Returns its `https://` URL.
async fn mutual_tls_front(pki: &Pki, backend: SocketAddr) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).expect("CA is a root");
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .expect("client verifier");
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(pki.server_chain.clone(), pki.server_key.clone_key())
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener binds");
    let url = format!("https://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    url
}

/// `portico run`'s flags, parsed as the binary parses them.
#[derive(Parser)]
struct RunCli {
    #[command(flatten)]
    args: RunArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_through_the_operator_flags() {
    let gateway = gateway().await;
    let backend: SocketAddr = gateway
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("gateway address");
    let pki = pki();
    let url = mutual_tls_front(&pki, backend).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("file written");
        path.to_string_lossy().into_owned()
    };
    let (ca, cert, key) = (
        write("ca.pem", &pki.ca_pem),
        write("client.pem", &pki.client_cert_pem),
        write("client.key", &pki.client_key_pem),
    );
    let flags = |extra: &[&str]| {
        let mut argv = vec![
            "portico-run",
            "--gateway-url",
            &url,
            "--gateway-token-secret",
            "portico-system/gateway-admin",
        ];
        argv.extend_from_slice(extra);
        RunCli::try_parse_from(argv)
            .expect("flags parse")
            .args
            .gateway_config()
            .expect("TLS files read")
    };
    let call = |config: GatewayClientConfig| async move {
        GatewayClient::new(config, SecretString::from(TOKEN))
            .expect("client builds")
            .upsert_model("tls", "m", &model_spec())
            .await
    };

    // CA and client certificate: the call goes through, TLS both ways.
    let full = flags(&[
        "--gateway-ca-file",
        &ca,
        "--gateway-client-cert",
        &cert,
        "--gateway-client-key",
        &key,
    ]);
    let created = call(full).await.expect("a mutual-TLS call succeeds");
    assert_eq!(created.call.http_status, Some(201));

    // No client certificate: the front refuses the handshake.
    let no_identity = call(flags(&["--gateway-ca-file", &ca])).await;
    assert!(
        matches!(
            no_identity.as_ref().map_err(|e| e.kind()),
            Err(GatewayErrorKind::Connect(_))
        ),
        "{no_identity:?}"
    );

    // The platform's roots do not know this CA.
    let unknown_ca = call(GatewayClientConfig {
        tls: GatewayTls {
            ca_bundle: None,
            client_identity: Some(SecretString::from(format!(
                "{}\n{}",
                pki.client_cert_pem, pki.client_key_pem
            ))),
        },
        ..client_config_for(&url)
    })
    .await;
    assert!(
        matches!(
            unknown_ca.as_ref().map_err(|e| e.kind()),
            Err(GatewayErrorKind::Connect(_))
        ),
        "{unknown_ca:?}"
    );

    // A key half without its certificate is refused when parsing the flags.
    let lone_key = RunCli::try_parse_from([
        "portico-run",
        "--gateway-url",
        &url,
        "--gateway-token-secret",
        "a/b",
        "--gateway-client-key",
        &key,
    ]);
    assert!(
        lone_key.is_err(),
        "--gateway-client-key needs --gateway-client-cert"
    );

    // A CA file that is not PEM is a clear start error, not a silent fallback to public roots.
    let garbage = write("garbage.pem", "not a certificate");
    let bad = RunCli::try_parse_from([
        "portico-run",
        "--gateway-url",
        &url,
        "--gateway-token-secret",
        "a/b",
        "--gateway-ca-file",
        &garbage,
    ])
    .expect("flags parse")
    .args
    .gateway_config()
    .map(|config| GatewayClient::new(config, SecretString::from(TOKEN)).map(|_| ()));
    assert!(
        matches!(
            bad,
            Ok(Err(portico_gateway_client::GatewayConfigError::Tls(_)))
        ),
        "{bad:?}"
    );
}

fn client_config_for(url: &str) -> GatewayClientConfig {
    GatewayClientConfig::new(url)
}
