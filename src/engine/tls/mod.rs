//! TLS over a stream session with rustls (sans-IO: the worker's mio loop
//! still owns the socket and every syscall). Configs are built once per
//! session from the spec; each connection gets a [`TlsConn`] that turns
//! received records into plaintext and plaintext into records. Handshake
//! outcomes and failures are reported in words, and the peer's
//! certificates are read with x509-parser for the inspector.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::OpError;
use super::protocol::EventKind;
use super::transport::{AtEof, Fed, Transport};
use super::ws::Outgoing;

mod certs;

pub use certs::cert_info;
use certs::{AcceptAny, pem_of};

/// Where a client looks for the certificate authorities it trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Roots {
    /// The operating system's store (`/etc/ssl/certs` and friends); when it
    /// is empty, the bundled Mozilla roots.
    #[default]
    System,
    /// The Mozilla roots compiled into Sockscope (webpki-roots).
    Bundled,
    /// None: only the `ca_file` is trusted.
    None,
}

/// TLS on a client stream.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsClientSpec {
    /// The name sent as SNI and checked against the certificate; None uses
    /// the host the session connects to (IP addresses are checked against
    /// the certificate's IP SANs and send no SNI).
    pub server_name: Option<String>,
    /// ALPN protocols to offer, most preferred first (`h2`, `http/1.1`).
    pub alpn: Vec<String>,
    /// Trusted roots.
    pub roots: Roots,
    /// A PEM file of extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (the handshake's signatures are still
    /// checked). Reported on every connection as not verified.
    pub insecure: bool,
    /// How long the handshake may take; None: [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Option<std::time::Duration>,
}

/// A handshake that has not finished by then is ended (a peer that opens
/// connections and never completes them would otherwise hold each open).
pub const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The certificate a TLS server presents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Generated at start (rcgen) for these names (DNS names or IP
    /// literals); its PEM is reported so a client can trust it.
    SelfSigned {
        /// Subject alternative names.
        names: Vec<String>,
    },
    /// Read from PEM files: the chain (leaf first) and its private key.
    Files {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
}

impl Default for Identity {
    fn default() -> Self {
        Identity::SelfSigned {
            names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        }
    }
}

/// TLS on a server's accepted connections.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsServerSpec {
    /// The certificate presented.
    pub identity: Identity,
    /// ALPN protocols accepted, in the server's order of preference.
    pub alpn: Vec<String>,
    /// How long each connection's handshake may take; None:
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Option<std::time::Duration>,
}

/// TLS for a session: client or server side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsSpec {
    /// On a TCP client.
    Client(TlsClientSpec),
    /// On a TCP server's connections.
    Server(TlsServerSpec),
}

impl TlsSpec {
    /// How long a handshake may take.
    pub fn handshake_timeout(&self) -> std::time::Duration {
        match self {
            TlsSpec::Client(c) => c.handshake_timeout,
            TlsSpec::Server(s) => s.handshake_timeout,
        }
        .unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT)
    }
}

/// One certificate, as people read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// Whether now lies within the validity period.
    pub valid_now: bool,
    /// Subject alternative names (DNS names and IP addresses).
    pub sans: Vec<String>,
    /// Serial number, hex.
    pub serial: String,
    /// SHA-256 of the DER, hex with colons (what browsers show).
    pub sha256: String,
}

/// How the peer's certificate was judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Verified against the trusted roots and the server name.
    Verified,
    /// Accepted without verification because the user asked; `would_fail`
    /// says what verification would have said.
    NotVerified {
        /// The verifier's complaint, if it had one.
        would_fail: Option<String>,
    },
    /// A server does not ask clients for certificates.
    NoClientAuth,
}

/// The outcome of a handshake, for the inspector and `sockscope run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLS 1.3` or `TLS 1.2`.
    pub version: String,
    /// IANA name of the cipher suite.
    pub suite: String,
    /// Key exchange group (`X25519`, `secp256r1`, ...).
    pub kx: Option<String>,
    /// The ALPN protocol agreed, if any.
    pub alpn: Option<String>,
    /// The SNI name (sent by a client, received by a server).
    pub sni: Option<String>,
    /// Certificate verification.
    pub verification: Verification,
    /// What the client trusted (empty on a server).
    pub trust: String,
    /// The peer's certificate chain, leaf first (empty when the peer sent
    /// none: a client of our server).
    pub certs: Vec<CertInfo>,
}

/// A server's certificate, reported once when it starts listening.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsIdentityInfo {
    /// The leaf certificate.
    pub cert: CertInfo,
    /// Whether Sockscope generated it.
    pub generated: bool,
    /// The leaf as PEM, so a client can be told to trust it.
    pub pem: String,
}

/// A session's TLS configuration, built once.
pub(crate) enum TlsSetup {
    Client {
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        sni: Option<String>,
        trust: String,
        insecure: Option<Arc<Mutex<Option<String>>>>,
    },
    Server {
        config: Arc<rustls::ServerConfig>,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(msg: impl Into<String>) -> OpError {
    OpError::plain("tls setup", msg)
}

/// A certificate, key or CA file: regular, non-blocking, capped.
fn read_tls_file(path: &Path, what: &str) -> Result<Vec<u8>, OpError> {
    crate::fsutil::read_capped(path, crate::fsutil::TLS_FILE_MAX, "a TLS file").map_err(|e| {
        tls_err(format!("cannot read the {what} '{}': {e}", path.display()))
            .with_hint("check the path; relative paths start from the directory sockscope runs in")
    })
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, OpError> {
    let bytes = read_tls_file(path, what)?;
    let mut certs = Vec::new();
    for c in CertificateDer::pem_slice_iter(&bytes) {
        certs.push(c.map_err(|e| {
            tls_err(format!(
                "the {what} '{}' has a broken PEM block: {e}",
                path.display()
            ))
        })?);
    }
    if certs.is_empty() {
        return Err(tls_err(format!(
            "the {what} '{}' holds no certificate",
            path.display()
        ))
        .with_hint("it must be PEM with -----BEGIN CERTIFICATE----- blocks"));
    }
    Ok(certs)
}

impl TlsSetup {
    /// Builds the configuration. `host` is the host a client connects to
    /// (its default server name). A server also returns its identity.
    pub(crate) fn build(
        spec: &TlsSpec,
        host: Option<&str>,
    ) -> Result<(TlsSetup, Option<TlsIdentityInfo>), OpError> {
        match spec {
            TlsSpec::Client(c) => Ok((client_setup(c, host)?, None)),
            TlsSpec::Server(s) => {
                let (setup, id) = server_setup(s)?;
                Ok((setup, Some(id)))
            }
        }
    }

    /// A connection's TLS state, ready for the handshake.
    pub(crate) fn start(&self) -> Result<TlsConn, OpError> {
        let conn: rustls::Connection = match self {
            TlsSetup::Client { config, name, .. } => {
                rustls::ClientConnection::new(config.clone(), name.clone())
                    .map_err(|e| tls_err(e.to_string()))?
                    .into()
            }
            TlsSetup::Server { config } => rustls::ServerConnection::new(config.clone())
                .map_err(|e| tls_err(e.to_string()))?
                .into(),
        };
        let (sni, trust, insecure) = match self {
            TlsSetup::Client {
                sni,
                trust,
                insecure,
                ..
            } => (sni.clone(), trust.clone(), insecure.clone()),
            TlsSetup::Server { .. } => (None, String::new(), None),
        };
        Ok(TlsConn {
            conn,
            established: false,
            close_notify_sent: false,
            sni,
            trust,
            insecure,
        })
    }
}

fn client_setup(c: &TlsClientSpec, host: Option<&str>) -> Result<TlsSetup, OpError> {
    let mut roots = RootCertStore::empty();
    let mut trust = Vec::new();
    match c.roots {
        Roots::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added > 0 {
                trust.push(format!("system store ({added} roots)"));
            } else {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                trust.push(format!(
                    "bundled Mozilla roots ({}; the system store had none)",
                    roots.len()
                ));
            }
        }
        Roots::Bundled => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            trust.push(format!("bundled Mozilla roots ({})", roots.len()));
        }
        Roots::None => {}
    }
    if let Some(path) = &c.ca_file {
        let certs = read_certs(path, "CA file")?;
        let n = certs.len();
        for cert in certs {
            roots.add(cert).map_err(|e| {
                tls_err(format!(
                    "a certificate in the CA file '{}' cannot be a trust anchor: {e}",
                    path.display()
                ))
            })?;
        }
        trust.push(format!("{} ({n})", path.display()));
    }
    let name_text = match (&c.server_name, host) {
        (Some(n), _) => n.clone(),
        (None, Some(h)) => h.to_string(),
        (None, None) => {
            return Err(tls_err("no server name to check the certificate against")
                .with_hint("set server_name"));
        }
    };
    let name = ServerName::try_from(name_text.clone()).map_err(|_| {
        tls_err(format!(
            "'{}' is not a valid TLS server name",
            super::codec::excerpt(&name_text, 60)
        ))
        .with_hint("use a DNS name like example.com or an IP address")
    })?;
    let sni = (name_text.parse::<IpAddr>().is_err()).then(|| name_text.clone());
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?;
    let roots = Arc::new(roots);
    let (mut config, insecure) = if c.insecure {
        let slot = Arc::new(Mutex::new(None));
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
                .build()
                .ok();
        let verifier = Arc::new(AcceptAny {
            inner,
            schemes: provider()
                .signature_verification_algorithms
                .supported_schemes(),
            complaint: slot.clone(),
        });
        trust.push("NOT VERIFIED: any certificate is accepted".into());
        (
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth(),
            Some(slot),
        )
    } else {
        if roots.is_empty() {
            return Err(tls_err("no trusted roots: roots is None and there is no CA file")
                .with_hint("give a ca_file, use the system or bundled roots, or (for tests) accept invalid certificates"));
        }
        (
            builder.with_root_certificates(roots).with_no_client_auth(),
            None,
        )
    };
    config.alpn_protocols = c.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(TlsSetup::Client {
        config: Arc::new(config),
        name,
        sni,
        trust: trust.join(" + "),
        insecure,
    })
}

fn server_setup(s: &TlsServerSpec) -> Result<(TlsSetup, TlsIdentityInfo), OpError> {
    let (chain, key, generated) = match &s.identity {
        Identity::SelfSigned { names } => {
            let gen_err = |e: rcgen::Error| {
                tls_err(format!("cannot generate a self-signed certificate: {e}"))
                    .with_hint("names must be DNS names or IP addresses")
            };
            let mut params = rcgen::CertificateParams::new(names.clone()).map_err(gen_err)?;
            let mut dn = rcgen::DistinguishedName::new();
            dn.push(rcgen::DnType::CommonName, "Sockscope self-signed");
            params.distinguished_name = dn;
            // A year from yesterday, like a real certificate (rcgen's
            // default runs from 1975 to 4096, which reads as a mistake).
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(1);
            params.not_after = now + time::Duration::days(365);
            let key_pair = rcgen::KeyPair::generate().map_err(gen_err)?;
            let cert = params.self_signed(&key_pair).map_err(gen_err)?;
            let key = PrivateKeyDer::Pkcs8(key_pair.serialize_der().into());
            (vec![cert.der().clone()], key, true)
        }
        Identity::Files { cert, key } => {
            let chain = read_certs(cert, "certificate file")?;
            let bytes = read_tls_file(key, "private key file")?;
            let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
                tls_err(format!(
                    "cannot read a private key from '{}': {e}",
                    key.display()
                ))
                .with_hint("it must be PEM: -----BEGIN PRIVATE KEY----- (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY")
            })?;
            (chain, key, false)
        }
    };
    let leaf = chain[0].clone();
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            tls_err(format!("the certificate and key do not fit together: {e}"))
                .with_hint("the key must be the one the certificate was issued for")
        })?;
    config.alpn_protocols = s.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let info = TlsIdentityInfo {
        cert: cert_info(&leaf),
        generated,
        pem: pem_of(&leaf),
    };
    Ok((
        TlsSetup::Server {
            config: Arc::new(config),
        },
        info,
    ))
}

/// A rustls error in words, with a hint.
fn describe(e: &rustls::Error) -> (String, Option<&'static str>) {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => (
                "the certificate was not issued by a CA we trust (unknown issuer)".into(),
                Some(
                    "give the CA that issued it as ca_file, or for a test server accept invalid certificates",
                ),
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                (
                    format!("the certificate is not valid for the name we asked for ({c:?})"),
                    Some("set server_name to a name the certificate lists in its SANs"),
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => (
                "the certificate has expired".into(),
                Some("renew the certificate, or check this machine's clock"),
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                "the certificate is not valid yet".into(),
                Some("check this machine's clock"),
            ),
            CertificateError::Revoked => ("the certificate has been revoked".into(), None),
            CertificateError::BadSignature => (
                "the certificate's signature does not match its issuer's key".into(),
                None,
            ),
            CertificateError::BadEncoding => ("the certificate is malformed".into(), None),
            other => (format!("the certificate was refused: {other:?}"), None),
        },
        E::AlertReceived(a) => {
            use rustls::AlertDescription as A;
            let hint = match a {
                A::UnknownCA | A::BadCertificate | A::CertificateUnknown => {
                    Some("the peer did not trust our certificate")
                }
                A::HandshakeFailure | A::ProtocolVersion | A::InsufficientSecurity => {
                    Some("the peer found no TLS version or cipher suite in common with us")
                }
                A::NoApplicationProtocol => Some("no ALPN protocol in common; check alpn"),
                A::UnrecognisedName => {
                    Some("the peer does not serve the SNI name we sent; check server_name")
                }
                _ => None,
            };
            (
                format!("the peer ended the handshake with the alert '{a:?}'"),
                hint,
            )
        }
        E::InvalidMessage(m) => (
            format!("the peer's bytes are not TLS ({m:?})"),
            Some("is the peer a plain TCP or HTTP service rather than TLS?"),
        ),
        E::InappropriateHandshakeMessage { .. } | E::InappropriateMessage { .. } => (
            format!("the peer answered out of turn: {e}"),
            Some("is the peer a TLS service? A plain echo server sends our own ClientHello back"),
        ),
        E::NoApplicationProtocol => (
            "no ALPN protocol in common with the peer".into(),
            Some("offer a protocol the peer accepts, or none"),
        ),
        E::PeerIncompatible(p) => (
            format!("the peer has no TLS version or cipher suite in common with us ({p:?})"),
            Some("Sockscope speaks TLS 1.2 and 1.3 with modern suites only"),
        ),
        E::PeerMisbehaved(p) => (format!("the peer broke the TLS protocol ({p:?})"), None),
        other => (other.to_string(), None),
    }
}

fn handshake_error(e: &rustls::Error, handshaking: bool) -> OpError {
    let (msg, hint) = describe(e);
    let op = if handshaking { "tls handshake" } else { "tls" };
    let err = OpError::plain(op, msg);
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// One connection's TLS state.
pub(crate) struct TlsConn {
    conn: rustls::Connection,
    established: bool,
    close_notify_sent: bool,
    sni: Option<String>,
    trust: String,
    insecure: Option<Arc<Mutex<Option<String>>>>,
}

impl Transport for TlsConn {
    fn feed(&mut self, mut data: &[u8]) -> Result<Fed, OpError> {
        let mut fed = Fed::default();
        while !data.is_empty() {
            match self.conn.read_tls(&mut data) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(OpError::io("tls read", &e)),
            }
            let handshaking = self.conn.is_handshaking();
            let state = self
                .conn
                .process_new_packets()
                .map_err(|e| handshake_error(&e, handshaking))?;
            let want = state.plaintext_bytes_to_read();
            if want > 0 {
                let start = fed.plain.len();
                fed.plain.resize(start + want, 0);
                let got = self
                    .conn
                    .reader()
                    .read(&mut fed.plain[start..])
                    .unwrap_or(0);
                fed.plain.truncate(start + got);
            }
            if state.peer_has_closed() {
                fed.closed = true;
            }
        }
        if !self.established && !self.conn.is_handshaking() {
            self.established = true;
            fed.events.push(EventKind::Tls(Box::new(self.info())));
        }
        Ok(fed)
    }

    fn ready(&self) -> bool {
        self.established
    }

    fn take(&mut self, data: &[u8], _: Outgoing) -> Option<usize> {
        match self.conn.writer().write(data) {
            Ok(n) if n > 0 || data.is_empty() => Some(n),
            _ => None,
        }
    }

    fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    fn write_to(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn close(&mut self) {
        if !self.close_notify_sent {
            self.close_notify_sent = true;
            self.conn.send_close_notify();
        }
    }

    fn at_eof(&self) -> AtEof {
        if !self.established {
            AtEof::Fails(
                OpError::plain(
                    "tls handshake",
                    "the peer closed the connection during the TLS handshake",
                )
                .with_hint("the peer may not speak TLS, or refused us without an alert"),
            )
        } else {
            // close_notify would have ended the stream before this FIN; a
            // bare FIN could be a cut.
            AtEof::Cut(
                OpError::plain(
                    "tls",
                    "the peer closed the connection without TLS close_notify: what arrived may be cut short",
                )
                .with_hint("many servers skip close_notify after a body with a known length; a truncation attack looks the same"),
            )
        }
    }
}

impl TlsConn {
    fn info(&self) -> TlsInfo {
        let c = &self.conn;
        let version = match c.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".into(),
        };
        let suite = c
            .negotiated_cipher_suite()
            .map(|s| {
                s.suite()
                    .as_str()
                    .map_or_else(|| format!("{:?}", s.suite()), str::to_string)
            })
            .unwrap_or_default();
        let kx = c
            .negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name()));
        let alpn = c
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let (sni, verification) = match c {
            rustls::Connection::Client(_) => {
                let v = match &self.insecure {
                    Some(slot) => Verification::NotVerified {
                        would_fail: slot.lock().ok().and_then(|s| s.clone()),
                    },
                    None => Verification::Verified,
                };
                (self.sni.clone(), v)
            }
            rustls::Connection::Server(s) => (
                s.server_name().map(str::to_string),
                Verification::NoClientAuth,
            ),
        };
        let certs = c
            .peer_certificates()
            .map(|chain| chain.iter().map(|d| cert_info(d)).collect())
            .unwrap_or_default();
        TlsInfo {
            version,
            suite,
            kx,
            alpn,
            sni,
            verification,
            trust: self.trust.clone(),
            certs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Engine v2, item 3: TLS is a transport with no I/O of its own. Two
    /// of them shake hands and talk through byte buffers, no socket.
    #[test]
    fn tls_as_a_transport_talks_through_buffers_alone() {
        let (server, _) =
            TlsSetup::build(&TlsSpec::Server(TlsServerSpec::default()), None).unwrap();
        let client_spec = TlsClientSpec {
            insecure: true,
            alpn: vec!["http/1.1".into()],
            ..Default::default()
        };
        let (client, _) =
            TlsSetup::build(&TlsSpec::Client(client_spec), Some("localhost")).unwrap();
        let mut c: Box<dyn Transport> = Box::new(client.start().unwrap());
        let mut s: Box<dyn Transport> = Box::new(server.start().unwrap());
        // What one side writes, the other is fed, until both are ready.
        let pump = |from: &mut Box<dyn Transport>, to: &mut Box<dyn Transport>| {
            let mut wire = Vec::new();
            from.write_to(&mut wire).unwrap();
            to.feed(&wire).unwrap()
        };
        let mut events = Vec::new();
        for _ in 0..4 {
            events.extend(pump(&mut c, &mut s).events);
            events.extend(pump(&mut s, &mut c).events);
        }
        assert!(c.ready() && s.ready());
        assert_eq!(events.len(), 2, "each side reports its handshake once");
        assert!(events.iter().all(|e| matches!(e, EventKind::Tls(_))));
        // Application bytes wait until taken, then arrive as plaintext.
        assert_eq!(
            c.take("你好 tls".as_bytes(), Outgoing::Auto),
            Some("你好 tls".len())
        );
        let fed = pump(&mut c, &mut s);
        assert_eq!(fed.plain, "你好 tls".as_bytes());
        // An orderly end is seen inside the layer; a bare FIN after the
        // handshake may have cut the data.
        s.close();
        assert!(pump(&mut s, &mut c).closed);
        assert!(matches!(c.at_eof(), AtEof::Cut(_)));
        // Before the handshake, a FIN fails the session.
        let fresh: Box<dyn Transport> = Box::new(client.start().unwrap());
        assert!(!fresh.ready());
        assert!(matches!(fresh.at_eof(), AtEof::Fails(_)));
    }

    #[test]
    fn pem_round_trips_through_the_pem_reader() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let pem = pem_of(ck.cert.der());
        assert_eq!(pem, ck.cert.pem().replace("\r\n", "\n"));
        let back: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![ck.cert.der().clone()]);
    }

    #[test]
    fn a_generated_certificate_reads_back_with_its_names() {
        let spec = TlsServerSpec::default();
        let (_, id) = server_setup(&spec).unwrap();
        assert!(id.generated);
        assert_eq!(id.cert.sans, vec!["localhost", "127.0.0.1", "::1"]);
        assert!(id.cert.valid_now);
        let year = time::OffsetDateTime::now_utc().year();
        assert!(
            id.cert.not_after.contains(&(year + 1).to_string()),
            "{}",
            id.cert.not_after
        );
        assert_eq!(id.cert.sha256.len(), 32 * 3 - 1);
    }

    #[test]
    fn missing_and_empty_files_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_certs(&dir.path().join("nope.pem"), "CA file").unwrap_err();
        assert!(e.to_string().contains("cannot read the CA file"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "hello\n").unwrap();
        let e = read_certs(&empty, "CA file").unwrap_err();
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        let spec = TlsClientSpec {
            roots: Roots::None,
            ..Default::default()
        };
        let e = client_setup(&spec, Some("localhost")).err().unwrap();
        assert!(e.to_string().contains("no trusted roots"), "{e}");
    }
}
