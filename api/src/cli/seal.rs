//! `chop seal make` and `chop seal show`: GB/T 38540-2020 seal objects (`SESeal` v4) on the
//! command line (issue 2 §3). The format is documented in docs/FORMATS.md, "Seal object".

use std::path::{Path, PathBuf};

use chop_seal::keys::SoftwareKey;
use chop_seal::picture::{self, RoundSeal};
use chop_seal::seal_object::{
    self, CHOP_VID, SESeal, STANDARD_SEAL_DIAMETER_MM, SealError, SealInfo, SealType,
};
use time::OffsetDateTime;

use super::Failure;
use super::sign::{read, read_text, write_atomically};
use crate::exit;

/// `chop seal` verbs.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Make a seal object: the seal maker signs the seal information (DER SESeal v4).
    #[command(after_help = crate::exit::HELP)]
    Make(Box<MakeArgs>),
    /// Print every field of a seal object and whether the maker's signature verifies
    /// (exit 5 if it does not, or if the file is not a seal object).
    #[command(after_help = crate::exit::HELP)]
    Show(ShowArgs),
}

/// Options of `chop seal make`.
#[derive(clap::Args, Debug)]
pub struct MakeArgs {
    /// The seal maker's (制章者) private key (PEM PKCS#8: ECDSA P-256/P-384 or RSA).
    #[arg(long, value_name = "KEY.pem")]
    maker_key: PathBuf,
    /// The seal maker's certificate (PEM or DER; the first certificate of a PEM file).
    #[arg(long, value_name = "CERT.pem")]
    maker_cert: PathBuf,
    /// A certificate allowed to use the seal (certList); repeat for several signers.
    #[arg(long = "signer-cert", value_name = "CERT.pem", required = true)]
    signer_certs: Vec<PathBuf>,
    /// The seal's name, e.g. 行政审批专用章.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The seal type: official, approval, licence, finance, contract, other (or the Chinese
    /// name, or the integer code).
    #[arg(long = "type", value_name = "TYPE")]
    seal_type: SealType,
    /// The organisation's 统一社会信用代码 (GB 32100-2015).
    #[arg(long, value_name = "USCC")]
    org_id: String,
    /// The organisation's name (stored in the seal; needed to draw the picture without --image).
    #[arg(long, value_name = "NAME")]
    org_name: Option<String>,
    /// First day of validity: YYYY-MM-DD (00:00:00 UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = parse_from)]
    valid_from: OffsetDateTime,
    /// Last day of validity: YYYY-MM-DD (until 23:59:59 UTC) or an RFC 3339 time.
    #[arg(long, value_name = "DATE", value_parser = parse_to)]
    valid_to: OffsetDateTime,
    /// The seal picture (PNG with a transparent background); default: the standard round
    /// seal drawn with the organisation name and the seal name.
    #[arg(long, value_name = "PNG")]
    image: Option<PathBuf>,
    /// Printed width of the picture in millimetres (default 42; with --image, the height
    /// follows the picture's aspect ratio unless --height-mm is given).
    #[arg(long, value_name = "MM", value_parser = clap::value_parser!(u32).range(1..=1000))]
    width_mm: Option<u32>,
    /// Printed height of the picture in millimetres.
    #[arg(long, value_name = "MM", value_parser = clap::value_parser!(u32).range(1..=1000))]
    height_mm: Option<u32>,
    /// The seal identifier (esID, ASCII); default: the USCC followed by 14 digits.
    #[arg(long, value_name = "ID")]
    es_id: Option<String>,
    /// Where to write the DER seal object.
    #[arg(long, value_name = "SEAL.der")]
    out: PathBuf,
}

/// Options of `chop seal show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The seal object (DER).
    #[arg(value_name = "SEAL.der")]
    seal: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Run a `chop seal` verb and return the exit code.
pub fn run(c: Command) -> u8 {
    match c {
        Command::Make(a) => super::report(make(*a)),
        Command::Show(a) => super::report(show(a)),
    }
}

/// Parse `YYYY-MM-DD` (at `h:m:s` UTC) or RFC 3339.
fn parse_date(s: &str, h: u8, m: u8, sec: u8) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(s, &fmt)
        .map_err(|_| format!("'{s}' is not a date (YYYY-MM-DD) or an RFC 3339 time"))?;
    let t = time::Time::from_hms(h, m, sec).map_err(|e| e.to_string())?;
    Ok(date.with_time(t).assume_utc())
}

fn parse_from(s: &str) -> Result<OffsetDateTime, String> {
    parse_date(s, 0, 0, 0)
}

fn parse_to(s: &str) -> Result<OffsetDateTime, String> {
    parse_date(s, 23, 59, 59)
}

/// The first certificate of a PEM file, or the file itself if it is DER.
fn read_cert(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    let bytes = read(path, what)?;
    let bad = |e: chop_seal::certs::CertError| {
        Failure::new(
            exit::BAD_CREDENTIALS,
            format!("{what} {}: {e}", path.display()),
        )
    };
    if bytes.starts_with(b"-----BEGIN") || bytes.first().is_some_and(|b| b.is_ascii_whitespace()) {
        let text = String::from_utf8_lossy(&bytes);
        let mut certs = chop_seal::certs::certificates_from_pem(&text).map_err(bad)?;
        Ok(certs.swap_remove(0))
    } else {
        chop_seal::certs::parse(&bytes).map_err(bad)?;
        Ok(bytes)
    }
}

fn seal_failure(e: &SealError) -> Failure {
    let code = match e {
        SealError::InvalidField { .. } => exit::USAGE,
        _ => exit::BAD_CREDENTIALS,
    };
    Failure::new(code, e.to_string())
}

fn make(a: MakeArgs) -> Result<u8, Failure> {
    chop_seal::codes::validate_uscc(&a.org_id)
        .map_err(|e| Failure::new(exit::BAD_CREDENTIALS, e.to_string()))?;
    if a.valid_from > a.valid_to {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "--valid-from {} is after --valid-to {}",
                seal_object::show_time(a.valid_from),
                seal_object::show_time(a.valid_to)
            ),
        ));
    }
    let key_pem = read_text(&a.maker_key, "seal maker key")?;
    let maker = SoftwareKey::from_pkcs8_pem(&key_pem).map_err(|e| {
        Failure::new(
            exit::BAD_CREDENTIALS,
            format!("seal maker key {}: {e}", a.maker_key.display()),
        )
    })?;
    let maker_cert = read_cert(&a.maker_cert, "seal maker certificate")?;
    let cert_list = a
        .signer_certs
        .iter()
        .map(|p| read_cert(p, "signer certificate"))
        .collect::<Result<Vec<_>, _>>()?;

    let (png, width_mm, height_mm) = match &a.image {
        Some(path) => {
            let png = read(path, "image")?;
            let (wpx, hpx) = picture::png_size_px(&png)
                .map_err(|e| Failure::new(exit::USAGE, format!("image {}: {e}", path.display())))?;
            let width = a.width_mm.unwrap_or(STANDARD_SEAL_DIAMETER_MM);
            let height = a.height_mm.unwrap_or_else(|| {
                let h = (f64::from(width) * f64::from(hpx) / f64::from(wpx.max(1))).round();
                // Clamp to at least 1 mm; the cast is in range after clamping.
                h.clamp(1.0, 1000.0) as u32
            });
            (png, width, height)
        }
        None => {
            let Some(org_name) = a.org_name.as_deref() else {
                return Err(Failure::new(
                    exit::USAGE,
                    "--org-name is needed to draw the seal picture (or give --image PNG)",
                ));
            };
            let seal_name = if a.seal_type == SealType::Official {
                ""
            } else {
                a.name.as_str()
            };
            let png = picture::draw_round_seal(&RoundSeal {
                org_name,
                seal_name,
                ..Default::default()
            })
            .map_err(|e| Failure::new(exit::USAGE, format!("cannot draw the seal picture: {e}")))?;
            let w = a.width_mm.unwrap_or(STANDARD_SEAL_DIAMETER_MM);
            (png, w, a.height_mm.unwrap_or(w))
        }
    };

    let es_id = match a.es_id {
        Some(id) => id,
        None => seal_object::new_es_id(&a.org_id).map_err(|e| seal_failure(&e))?,
    };
    let info = SealInfo {
        vid: CHOP_VID.into(),
        es_id,
        seal_type: a.seal_type,
        name: a.name,
        cert_list,
        create_date: OffsetDateTime::now_utc(),
        valid_start: a.valid_from,
        valid_end: a.valid_to,
        picture_png: png,
        picture_width_mm: width_mm,
        picture_height_mm: height_mm,
        org_id: Some(a.org_id),
        org_name: a.org_name,
    };
    let seal = SESeal::make(info, &maker, &maker_cert).map_err(|e| seal_failure(&e))?;
    write_atomically(&a.out, seal.as_der())?;
    let i = seal.info();
    println!(
        "made seal {} ({}, {}) for {} signer certificate(s), valid {} to {} -> {}",
        i.es_id,
        i.name,
        i.seal_type,
        i.cert_list.len(),
        seal_object::show_time(i.valid_start),
        seal_object::show_time(i.valid_end),
        a.out.display()
    );
    Ok(exit::OK)
}

/// Whether the seal is usable at `now`, as a short phrase.
fn validity_now(seal: &SESeal, now: OffsetDateTime) -> (bool, String) {
    match seal.check_validity(now) {
        Ok(()) => (true, "within the validity period".into()),
        Err(e) => (false, e.to_string()),
    }
}

fn show(a: ShowArgs) -> Result<u8, Failure> {
    let der = read(&a.seal, "seal")?;
    let seal = SESeal::from_der(&der).map_err(|e| {
        Failure::new(
            exit::BAD_CREDENTIALS,
            format!("seal {}: {e}", a.seal.display()),
        )
    })?;
    let verification = seal.verify_maker_signature();
    let now = OffsetDateTime::now_utc();
    let (valid_now, validity_text) = validity_now(&seal, now);

    if a.json {
        let mut j = seal.to_json();
        if let Some(obj) = j.as_object_mut() {
            obj.insert(
                "validity_now".into(),
                serde_json::json!({
                    "at": seal_object::rfc3339(now),
                    "valid": valid_now,
                    "detail": validity_text,
                }),
            );
        }
        let text = serde_json::to_string_pretty(&j)
            .map_err(|e| Failure::new(exit::INTERNAL, e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", human(&seal, &validity_text));
    }
    match verification {
        Ok(()) => Ok(exit::OK),
        Err(e) => Err(Failure::new(
            exit::BAD_CREDENTIALS,
            format!("seal {}: {e}", a.seal.display()),
        )),
    }
}

/// The human-readable description of a seal: every field, one per line.
fn human(seal: &SESeal, validity_text: &str) -> String {
    use std::fmt::Write as _;
    let j = seal.to_json();
    let i = seal.info();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    let mut o = String::new();
    let _ = writeln!(o, "GB/T 38540-2020 electronic seal (SESeal version 4)");
    let _ = writeln!(o, "  header:            ES, version 4, vendor {}", i.vid);
    let _ = writeln!(o, "  esID:              {}", i.es_id);
    let _ = writeln!(
        o,
        "  type:              {} ({}, code {})",
        i.seal_type.zh(),
        i.seal_type.slug(),
        i.seal_type.code()
    );
    let _ = writeln!(o, "  name:              {}", i.name);
    let _ = writeln!(
        o,
        "  organisation:      {}",
        i.org_name.as_deref().unwrap_or("(not given)")
    );
    let _ = writeln!(
        o,
        "  统一社会信用代码:  {}",
        i.org_id.as_deref().unwrap_or("(not given)")
    );
    let _ = writeln!(
        o,
        "  created:           {}",
        seal_object::show_time(i.create_date)
    );
    let _ = writeln!(
        o,
        "  valid from:        {}",
        seal_object::show_time(i.valid_start)
    );
    let _ = writeln!(
        o,
        "  valid to:          {}",
        seal_object::show_time(i.valid_end)
    );
    let _ = writeln!(o, "  now:               {validity_text}");
    let px = match (
        j["picture"]["width_px"].as_u64(),
        j["picture"]["height_px"].as_u64(),
    ) {
        (Some(w), Some(h)) => format!("{w}x{h} px, "),
        _ => String::new(),
    };
    let _ = writeln!(
        o,
        "  picture:           PNG, {} bytes, {px}printed {}x{} mm, sha256 {}",
        i.picture_png.len(),
        i.picture_width_mm,
        i.picture_height_mm,
        s(&j["picture"]["sha256"])
    );
    let _ = writeln!(
        o,
        "  allowed signers:   {} certificate(s) in certList",
        i.cert_list.len()
    );
    if let Some(list) = j["cert_list"].as_array() {
        for (n, c) in list.iter().enumerate() {
            let subject = c["subject"].as_str().unwrap_or("(unreadable certificate)");
            let _ = writeln!(o, "    {}. {subject}", n + 1);
            let _ = writeln!(o, "       sha256 {}", s(&c["sha256"]));
            if let Some(na) = c["not_after"].as_str() {
                let _ = writeln!(o, "       valid until {na}");
            }
        }
    }
    let maker = &j["maker_cert"];
    let _ = writeln!(
        o,
        "  seal maker:        {}",
        maker["subject"]
            .as_str()
            .unwrap_or("(unreadable certificate)")
    );
    let _ = writeln!(o, "                     sha256 {}", s(&maker["sha256"]));
    let _ = writeln!(
        o,
        "  signature:         {} ({})",
        seal.signature_algorithm()
            .map(|a| a.name())
            .unwrap_or("unknown algorithm"),
        seal.signature_algorithm_oid()
    );
    for e in seal.unknown_extensions() {
        let _ = writeln!(
            o,
            "  extension:         {}{} ({} bytes)",
            e.oid,
            if e.critical { " critical" } else { "" },
            e.value.len()
        );
    }
    match seal.verify_maker_signature() {
        Ok(()) => {
            let _ = writeln!(o, "  maker signature:   verifies");
        }
        Err(e) => {
            let _ = writeln!(o, "  maker signature:   DOES NOT VERIFY: {e}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_are_whole_days_in_utc_or_rfc3339() {
        assert_eq!(
            parse_from("2025-06-01").unwrap(),
            datetime!(2025-06-01 00:00:00 UTC)
        );
        assert_eq!(
            parse_to("2025-06-01").unwrap(),
            datetime!(2025-06-01 23:59:59 UTC)
        );
        assert_eq!(
            parse_to("2025-06-01T08:00:00+08:00").unwrap(),
            datetime!(2025-06-01 00:00:00 UTC)
        );
        assert!(parse_from("2025-13-01").is_err());
        assert!(parse_from("tomorrow").unwrap_err().contains("YYYY-MM-DD"));
    }
}
