//! Certificates for people: PEM text, what a certificate says (subject,
//! issuer, validity, names, fingerprint), and the verifier that accepts
//! any server certificate while remembering what verification would say.

use super::*;

pub(super) fn pem_of(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Reads a certificate for people; a certificate x509-parser cannot read
/// still gets its fingerprint.
pub fn cert_info(der: &[u8]) -> CertInfo {
    use x509_parser::prelude::*;
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let sha256 = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => {
            let mut sans = Vec::new();
            if let Ok(Some(ext)) = cert.subject_alternative_name() {
                for gn in &ext.value.general_names {
                    sans.push(match gn {
                        GeneralName::DNSName(d) => d.to_string(),
                        GeneralName::IPAddress(b) => match b.len() {
                            4 => {
                                IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or([0; 4])).to_string()
                            }
                            16 => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or([0; 16]))
                                .to_string(),
                            _ => format!("IP {:02x?}", b),
                        },
                        GeneralName::RFC822Name(m) => format!("email:{m}"),
                        GeneralName::URI(u) => format!("URI:{u}"),
                        other => format!("{other}"),
                    });
                }
            }
            let v = cert.validity();
            CertInfo {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                not_before: v.not_before.to_string(),
                not_after: v.not_after.to_string(),
                valid_now: v.is_valid(),
                sans,
                serial: cert.raw_serial_as_string(),
                sha256,
            }
        }
        Err(e) => CertInfo {
            subject: format!("(unreadable certificate: {e})"),
            issuer: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            valid_now: false,
            sans: Vec::new(),
            serial: String::new(),
            sha256,
        },
    }
}

/// Accepts any server certificate but still checks the handshake's
/// signatures, and remembers what real verification would have said so
/// the connection can be flagged with the reason.
#[derive(Debug)]
pub(super) struct AcceptAny {
    pub(super) inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pub(super) schemes: Vec<SignatureScheme>,
    pub(super) complaint: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let complaint = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .err()
                .map(|e| describe(&e).0),
            None => Some("there were no trusted roots to check it against".into()),
        };
        if let Ok(mut slot) = self.complaint.lock() {
            *slot = complaint;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}
