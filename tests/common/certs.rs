//! Throw-away certificate authorities and server certificates, made by the
//! test with rcgen (ECDSA P-256) and written as PEM files into its work dir.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use super::WorkDir;

/// A certificate authority that lives as long as the test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// Its certificate, PEM: what `tls_ca_file` names.
    pub pem: PathBuf,
}

/// A certificate and its key, PEM files.
pub struct Issued {
    /// The certificate, leaf then the CA (what a server sends).
    pub cert: PathBuf,
    /// The private key (PKCS#8).
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA named `name`; its certificate goes to `NAME-ca.pem`.
    pub fn new(dir: &WorkDir, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        let pem = dir.file(&format!("{name}-ca.pem"));
        std::fs::write(&pem, cert.pem()).expect("write CA");
        TestCa { cert, key, pem }
    }

    /// A certificate for `names` (host names or IP addresses) signed by this
    /// CA, good for servers and clients; files `STEM.pem` and `STEM.key`.
    pub fn issue(&self, dir: &WorkDir, stem: &str, names: &[&str]) -> Issued {
        let sans: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or(stem));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        let issued = Issued {
            cert: dir.file(&format!("{stem}.pem")),
            key: dir.file(&format!("{stem}.key")),
        };
        std::fs::write(&issued.cert, format!("{}{}", cert.pem(), self.cert.pem()))
            .expect("write certificate");
        std::fs::write(&issued.key, key.serialize_pem()).expect("write key");
        issued
    }
}
