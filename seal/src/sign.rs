//! Sealing a PDF: PAdES baseline B-B (ETSI EN 319 142-1) with a visible GB/T 38540 seal.
//!
//! One [`Sealer`] holds the credentials (key, certificate, chain, seal) and the prepared
//! appearance; [`Sealer::seal`] turns a PDF into the same bytes plus one incremental update
//! holding:
//! - a signature dictionary (`/Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached`,
//!   `/ByteRange` covering everything but `/Contents`, `/M`, optional `/Reason`, `/Location`),
//!   whose `/Contents` is the CMS SignedData built by [`crate::cms::build`];
//! - a signature field merged with its widget annotation (flags Print + Locked), on the chosen
//!   page, whose normal appearance draws the seal picture at its printed size, with an SMask
//!   for transparency;
//! - the page (or its `/Annots` array), the `/AcroForm` (or the catalog) updated to reference
//!   the new field, `/SigFlags 3`.
//!
//! Documents it refuses: not a PDF, truncated, damaged cross-reference data, encrypted,
//! certified with DocMDP P=1 (no changes allowed).

use std::collections::HashSet;
use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream, StringFormat, dictionary};
use time::OffsetDateTime;

use crate::cms::build::{BuildError, SignedDataRequest, build_signed_data, estimate_size};
use crate::keys::Signer;
use crate::pdf::incremental::{IncrementalUpdate, TrailerInfo, XrefStyle};
use crate::pdf::revisions;
use crate::pdf::serialize::{text_string, write_literal_string, write_name, write_object};
use crate::picture::{PictureError, decode_png};
use crate::seal_object::{SESeal, SealError};

/// Points per millimetre (1 pt = 1/72 in).
pub const PT_PER_MM: f64 = 72.0 / 25.4;

/// Default distance of the seal from the right edge of the crop box, in millimetres.
pub const DEFAULT_RIGHT_MARGIN_MM: f64 = 15.0;
/// Default distance of the seal from the bottom edge of the crop box, in millimetres.
pub const DEFAULT_BOTTOM_MARGIN_MM: f64 = 20.0;

/// Why a document could not be sealed. Each message is one line naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("not a PDF: no %PDF- header in the first 1024 bytes")]
    NotPdf,
    #[error("the PDF is truncated: no %%EOF marker at the end of the file")]
    Truncated,
    #[error(
        "the PDF's startxref is missing or points nowhere (offset {0}); refusing to seal a damaged cross-reference table"
    )]
    BrokenStartxref(String),
    #[error(
        "the PDF's cross-reference data is damaged ({0}); refusing to seal a file that only reads after repair"
    )]
    BrokenXref(String),
    #[error("the PDF cannot be parsed: {0}")]
    Malformed(String),
    #[error("the PDF is encrypted; decrypt it before sealing")]
    Encrypted,
    #[error(
        "the PDF is certified with DocMDP P=1: its author allows no changes, not even a new signature"
    )]
    DocMdpNoChanges,
    #[error("page {requested} does not exist: the document has {count} page(s)")]
    NoSuchPage { requested: u32, count: usize },
    #[error("a form field named '{0}' already exists")]
    FieldExists(String),
    #[error("the private key does not match the signer certificate")]
    KeyMismatch,
    #[error("the signer certificate ({0}) is not in the seal's certList")]
    SignerNotInCertList(String),
    #[error("the seal is not usable: {0}")]
    Seal(#[from] SealError),
    #[error("the seal picture cannot be used: {0}")]
    Picture(#[from] PictureError),
    #[error("cannot build the CMS signature: {0}")]
    Cms(BuildError),
    #[error(
        "internal error: the signature did not fit the space reserved for it ({needed} > {reserved} bytes)"
    )]
    ContentsOverflow { needed: usize, reserved: usize },
}

impl SignError {
    /// True when the document itself is the problem (as opposed to the credentials).
    pub fn is_document_problem(&self) -> bool {
        matches!(
            self,
            Self::NotPdf
                | Self::Truncated
                | Self::BrokenStartxref(_)
                | Self::BrokenXref(_)
                | Self::Malformed(_)
                | Self::Encrypted
                | Self::DocMdpNoChanges
                | Self::NoSuchPage { .. }
                | Self::FieldExists(_)
        )
    }
}

impl From<BuildError> for SignError {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::KeyMismatch => Self::KeyMismatch,
            other => Self::Cms(other),
        }
    }
}

/// Which page carries the visible seal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PageSelector {
    /// The last page (the default: where the issuer signs).
    #[default]
    Last,
    /// A 1-based page number.
    Number(u32),
}

/// Per-document options.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Page for the visible seal.
    pub page: PageSelector,
    /// Lower-left corner of the seal picture in millimetres from the crop box's lower-left
    /// corner; `None` = bottom right ([`DEFAULT_RIGHT_MARGIN_MM`], [`DEFAULT_BOTTOM_MARGIN_MM`]).
    pub position_mm: Option<(f64, f64)>,
    /// Field name; `None` = `Seal1`, `Seal2`, … (the first unused).
    pub field_name: Option<String>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// The claimed signing time (`/M`); `None` = now.
    pub signing_time: Option<OffsetDateTime>,
    /// Draw the seal even on a certified (DocMDP) document. Acrobat accepts a new visible
    /// signature field after a P=2/P=3 certification; pyHanko (stricter on purpose) then judges
    /// the certification signature INVALID. Default `false`: on a certified document the seal
    /// is bound invisibly and [`Sealed::visible`] says so.
    pub visible_on_certified: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            page: PageSelector::Last,
            position_mm: None,
            field_name: None,
            reason: None,
            location: None,
            signing_time: None,
            visible_on_certified: false,
        }
    }
}

/// A sealed document and how it was sealed.
#[derive(Clone, Debug)]
pub struct Sealed {
    /// The original bytes followed by one incremental update.
    pub pdf: Vec<u8>,
    /// Whether the seal picture was drawn on the page.
    pub visible: bool,
    /// The DocMDP permission (1–3) of the document's certification signature, if it has one.
    pub certified: Option<i64>,
}

/// The seal picture as PDF image data, prepared once per [`Sealer`].
struct Appearance {
    width_px: u32,
    height_px: u32,
    rgb_deflated: Vec<u8>,
    alpha_deflated: Option<Vec<u8>>,
    width_pt: f64,
    height_pt: f64,
}

fn deflate(data: &[u8], level: Compression) -> Vec<u8> {
    // Once per Sealer: every sealed document carries these bytes.
    let mut enc = ZlibEncoder::new(Vec::with_capacity(data.len() / 4), level);
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// The signer of a [`Sealer`]: borrowed, or shared (a `Sealer<'static>` a server caches).
enum SignerRef<'a> {
    Borrowed(&'a dyn Signer),
    Shared(std::sync::Arc<dyn Signer>),
}

impl SignerRef<'_> {
    fn get(&self) -> &dyn Signer {
        match self {
            SignerRef::Borrowed(s) => *s,
            SignerRef::Shared(s) => s.as_ref(),
        }
    }
}

/// Credentials and prepared appearance for sealing any number of documents.
pub struct Sealer<'a> {
    signer: SignerRef<'a>,
    cert_der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    seal: SESeal,
    seal_der: Vec<u8>,
    appearance: Appearance,
    contents_reserve: usize,
}

impl<'a> Sealer<'a> {
    /// Check the credentials once and prepare the appearance.
    ///
    /// Refuses a key that does not match the certificate, a seal whose maker signature does not
    /// verify, and a signer certificate the seal's certList does not name. (The seal's validity
    /// period is checked per document, at its signing time.)
    pub fn new(
        signer: &'a dyn Signer,
        cert_der: &[u8],
        chain: &[Vec<u8>],
        seal: &SESeal,
    ) -> Result<Self, SignError> {
        Self::build(SignerRef::Borrowed(signer), cert_der, chain, seal)
    }

    /// [`Sealer::new`] with a shared signer: the sealer owns what it needs and can be cached
    /// (e.g. by a server, one per seal).
    pub fn new_shared(
        signer: std::sync::Arc<dyn Signer>,
        cert_der: &[u8],
        chain: &[Vec<u8>],
        seal: &SESeal,
    ) -> Result<Sealer<'static>, SignError> {
        Sealer::build(SignerRef::Shared(signer), cert_der, chain, seal)
    }

    fn build(
        signer_ref: SignerRef<'a>,
        cert_der: &[u8],
        chain: &[Vec<u8>],
        seal: &SESeal,
    ) -> Result<Self, SignError> {
        let signer = signer_ref.get();
        let cert_key = crate::certs::public_key(cert_der).map_err(|e| {
            SignError::Cms(BuildError::BadCertificate {
                index: 0,
                reason: e.to_string(),
            })
        })?;
        if cert_key != signer.public_key() {
            return Err(SignError::KeyMismatch);
        }
        seal.verify_maker_signature()?;
        if !seal.allows_signer(cert_der) {
            let subject = crate::certs::subject(cert_der).unwrap_or_else(|_| "unreadable".into());
            return Err(SignError::SignerNotInCertList(subject));
        }
        let info = seal.info();
        let picture = decode_png(&info.picture_png)?;
        let appearance = Appearance {
            width_px: picture.width,
            height_px: picture.height,
            // The RGB plane of a one-colour seal is constant: at the best level it deflates more
            // than 1000:1, which verifiers (ours included, see verify::Limits::max_ratio) rightly
            // treat as a decompression bomb. The fast level keeps it well under that ratio.
            rgb_deflated: deflate(&picture.rgb, Compression::fast()),
            alpha_deflated: picture
                .alpha
                .as_deref()
                .map(|a| deflate(a, Compression::best())),
            width_pt: f64::from(info.picture_width_mm) * PT_PER_MM,
            height_pt: f64::from(info.picture_height_mm) * PT_PER_MM,
        };
        let seal_der = seal.to_der();
        let digest = vec![0u8; signer.algorithm().digest().ring().output_len()];
        let estimate = estimate_size(
            &SignedDataRequest {
                content_digest: &digest,
                signer_cert: cert_der,
                chain,
                seal: Some(&seal_der),
            },
            signer.algorithm(),
            signer.public_key().len(),
        )?;
        Ok(Self {
            cert_der: cert_der.to_vec(),
            chain: chain.to_vec(),
            seal: seal.clone(),
            seal_der,
            appearance,
            // Slack for the DER length of a slightly longer signature.
            contents_reserve: estimate + 64,
            signer: signer_ref,
        })
    }

    /// Seal one document: the original bytes plus one incremental update.
    pub fn seal(&self, input: &[u8], opts: &SignOptions) -> Result<Sealed, SignError> {
        let signing_time = opts
            .signing_time
            .unwrap_or_else(OffsetDateTime::now_utc)
            .to_offset(time::UtcOffset::UTC);
        self.seal.check_validity(signing_time)?;
        let doc = load_for_update(input)?;
        let certified = docmdp_permission(&doc);
        if certified == Some(1) {
            return Err(SignError::DocMdpNoChanges);
        }
        let visible = certified.is_none() || opts.visible_on_certified;

        let pages = doc.get_pages();
        let page_id = match opts.page {
            PageSelector::Last => pages.values().next_back().copied(),
            PageSelector::Number(n) => pages.get(&n).copied(),
        }
        .ok_or(SignError::NoSuchPage {
            requested: match opts.page {
                PageSelector::Last => 0,
                PageSelector::Number(n) => n,
            },
            count: pages.len(),
        })?;
        let page = doc
            .get_dictionary(page_id)
            .map_err(|e| SignError::Malformed(format!("page object: {e}")))?;
        let crop = crop_box(&doc, page_id);

        let root_id = doc
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .map_err(|_| SignError::Malformed("the trailer has no /Root reference".into()))?;
        let catalog = doc
            .get_dictionary(root_id)
            .map_err(|e| SignError::Malformed(format!("catalog: {e}")))?;

        // AcroForm: direct in the catalog, indirect, or absent.
        let acroform_ref = catalog
            .get(b"AcroForm")
            .ok()
            .and_then(|o| o.as_reference().ok());
        let mut acroform: Dictionary = match catalog.get(b"AcroForm") {
            Ok(Object::Reference(id)) => doc.get_dictionary(*id).cloned().unwrap_or_default(),
            Ok(Object::Dictionary(d)) => d.clone(),
            _ => Dictionary::new(),
        };

        let existing = field_names(&doc, &acroform);
        let field_name = match &opts.field_name {
            Some(n) if existing.contains(n) => return Err(SignError::FieldExists(n.clone())),
            Some(n) => n.clone(),
            None => (1..)
                .map(|i| format!("Seal{i}"))
                .find(|n| !existing.contains(n))
                .unwrap_or_else(|| "Seal".into()),
        };

        // Object numbers for the new objects.
        let size_in_trailer = doc
            .trailer
            .get(b"Size")
            .and_then(Object::as_i64)
            .ok()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        let mut next = doc.max_id.max(size_in_trailer.saturating_sub(1)) + 1;
        let mut alloc = || {
            let id = (next, 0);
            next += 1;
            id
        };
        let sig_id = alloc();
        let widget_id = alloc();
        let ap_id = visible.then(&mut alloc);
        let img_id = visible.then(&mut alloc);
        let smask_id = self
            .appearance
            .alpha_deflated
            .as_ref()
            .filter(|_| visible)
            .map(|_| alloc());
        let new_acroform_id = if catalog.get(b"AcroForm").is_err() {
            Some(alloc())
        } else {
            None
        };

        // Placement.
        let a = &self.appearance;
        let (x, y) = match opts.position_mm {
            Some((x, y)) => (crop[0] + x * PT_PER_MM, crop[1] + y * PT_PER_MM),
            None => (
                crop[2] - (DEFAULT_RIGHT_MARGIN_MM * PT_PER_MM) - a.width_pt,
                crop[1] + DEFAULT_BOTTOM_MARGIN_MM * PT_PER_MM,
            ),
        };
        // An invisible signature has a zero-size rectangle (ISO 32000-2 §12.7.5.5).
        let rect = if visible {
            [x, y, x + a.width_pt, y + a.height_pt]
        } else {
            [0.0; 4]
        };

        let mut update = IncrementalUpdate::new(input, self.contents_reserve * 2 + 200_000);
        let mut objects: Vec<(ObjectId, Object)> = Vec::new();

        if let (Some(img_id), Some(ap_id)) = (img_id, ap_id) {
            // Image XObject and its soft mask.
            let mut img_dict = dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => i64::from(a.width_px),
                "Height" => i64::from(a.height_px),
                "ColorSpace" => "DeviceRGB",
                "BitsPerComponent" => 8,
                "Interpolate" => true,
                "Filter" => "FlateDecode",
            };
            if let (Some(smask_id), Some(alpha)) = (smask_id, &a.alpha_deflated) {
                img_dict.set("SMask", Object::Reference(smask_id));
                let smask = dictionary! {
                    "Type" => "XObject",
                    "Subtype" => "Image",
                    "Width" => i64::from(a.width_px),
                    "Height" => i64::from(a.height_px),
                    "ColorSpace" => "DeviceGray",
                    "BitsPerComponent" => 8,
                    "Interpolate" => true,
                    "Filter" => "FlateDecode",
                };
                objects.push((smask_id, Object::Stream(raw_stream(smask, alpha.clone()))));
            }
            objects.push((
                img_id,
                Object::Stream(raw_stream(img_dict, a.rgb_deflated.clone())),
            ));

            // Appearance: draw the picture over the whole box.
            let mut content = Vec::new();
            content.extend_from_slice(b"q ");
            crate::pdf::serialize::write_real(&mut content, a.width_pt);
            content.extend_from_slice(b" 0 0 ");
            crate::pdf::serialize::write_real(&mut content, a.height_pt);
            content.extend_from_slice(b" 0 0 cm /Seal Do Q");
            let ap = dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), real(a.width_pt), real(a.height_pt)],
                "Resources" => dictionary! { "XObject" => dictionary! { "Seal" => img_id } },
            };
            objects.push((ap_id, Object::Stream(raw_stream(ap, content))));
        }

        // Signature field merged with its widget.
        let mut widget = dictionary! {
            "Type" => "Annot",
            "Subtype" => "Widget",
            "FT" => "Sig",
            "T" => text_string(&field_name),
            "V" => sig_id,
            "F" => 132, // Print (4) + Locked (128)
            "Rect" => rect.iter().map(|v| real(*v)).collect::<Vec<Object>>(),
            "P" => page_id,
        };
        if let Some(ap_id) = ap_id {
            widget.set("AP", dictionary! { "N" => ap_id });
        }
        objects.push((widget_id, Object::Dictionary(widget)));

        // The page's /Annots: update the array where it lives.
        match page.get(b"Annots") {
            Ok(Object::Reference(arr_id)) => {
                let mut arr = doc
                    .get_object(*arr_id)
                    .and_then(Object::as_array)
                    .cloned()
                    .map_err(|e| SignError::Malformed(format!("page /Annots: {e}")))?;
                arr.push(Object::Reference(widget_id));
                objects.push((*arr_id, Object::Array(arr)));
            }
            other => {
                let mut arr = match other {
                    Ok(Object::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                arr.push(Object::Reference(widget_id));
                let mut page = page.clone();
                page.set("Annots", Object::Array(arr));
                objects.push((page_id, Object::Dictionary(page)));
            }
        }

        // The AcroForm's /Fields, likewise.
        match acroform.get(b"Fields") {
            Ok(Object::Reference(arr_id)) => {
                let mut arr = doc
                    .get_object(*arr_id)
                    .and_then(Object::as_array)
                    .cloned()
                    .map_err(|e| SignError::Malformed(format!("AcroForm /Fields: {e}")))?;
                arr.push(Object::Reference(widget_id));
                objects.push((*arr_id, Object::Array(arr)));
            }
            other => {
                let mut arr = match other {
                    Ok(Object::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                arr.push(Object::Reference(widget_id));
                acroform.set("Fields", Object::Array(arr));
            }
        }
        acroform.set("SigFlags", Object::Integer(3));
        match (acroform_ref, new_acroform_id) {
            (Some(id), _) => objects.push((id, Object::Dictionary(acroform))),
            (None, Some(id)) => {
                objects.push((id, Object::Dictionary(acroform)));
                let mut catalog = catalog.clone();
                catalog.set("AcroForm", Object::Reference(id));
                objects.push((root_id, Object::Dictionary(catalog)));
            }
            (None, None) => {
                let mut catalog = catalog.clone();
                catalog.set("AcroForm", Object::Dictionary(acroform));
                objects.push((root_id, Object::Dictionary(catalog)));
            }
        }

        for (id, obj) in &objects {
            update.add_object(*id, obj);
        }

        // The signature dictionary, with fixed-width placeholders.
        let mut byte_range_at = 0;
        let mut contents_at = 0;
        let contents_hex_len = self.contents_reserve * 2;
        update.add_object_with(sig_id, |out| {
            out.extend_from_slice(
                b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M ",
            );
            write_literal_string(out, pdf_date(signing_time).as_bytes());
            for (key, value) in [("Reason", &opts.reason), ("Location", &opts.location)] {
                if let Some(v) = value {
                    write_name(out, key.as_bytes());
                    out.push(b' ');
                    write_object(out, &text_string(v));
                }
            }
            out.extend_from_slice(b"/ByteRange ");
            byte_range_at = out.len();
            out.extend_from_slice(BYTE_RANGE_PLACEHOLDER);
            out.extend_from_slice(b"/Contents ");
            contents_at = out.len();
            out.push(b'<');
            out.resize(out.len() + contents_hex_len, b'0');
            out.extend_from_slice(b">>>");
        });
        let contents_end = contents_at + contents_hex_len + 2;

        let trailer = TrailerInfo {
            root: root_id,
            info: doc.trailer.get(b"Info").ok().cloned(),
            id: doc.trailer.get(b"ID").ok().cloned(),
            prev: doc.xref_start,
        };
        let style = XrefStyle::detect(input, doc.xref_start);
        let mut out = update.finish(style, &trailer, next);

        // Patch the ByteRange, hash, sign, fill /Contents.
        let byte_range = [0, contents_at, contents_end, out.len() - contents_end];
        let text = format!(
            "[{} {} {} {}]",
            byte_range[0], byte_range[1], byte_range[2], byte_range[3]
        );
        let slot = &mut out[byte_range_at..byte_range_at + BYTE_RANGE_PLACEHOLDER.len()];
        slot.fill(b' ');
        slot[..text.len()].copy_from_slice(text.as_bytes());

        let mut ctx = ring::digest::Context::new(self.signer.get().algorithm().digest().ring());
        ctx.update(&out[..contents_at]);
        ctx.update(&out[contents_end..]);
        let digest = ctx.finish();
        let cms = build_signed_data(
            &SignedDataRequest {
                content_digest: digest.as_ref(),
                signer_cert: &self.cert_der,
                chain: &self.chain,
                seal: Some(&self.seal_der),
            },
            self.signer.get(),
        )?;
        if cms.len() > self.contents_reserve {
            return Err(SignError::ContentsOverflow {
                needed: cms.len(),
                reserved: self.contents_reserve,
            });
        }
        // Hex straight into the reserved slot (ISO 32000-2 §7.3.4.3 allows either case).
        let slot = &mut out[contents_at + 1..contents_at + 1 + 2 * cms.len()];
        hex::encode_to_slice(&cms, slot).map_err(|_| SignError::ContentsOverflow {
            needed: cms.len(),
            reserved: self.contents_reserve,
        })?;
        Ok(Sealed {
            pdf: out,
            visible,
            certified,
        })
    }
}

/// `[0 a b c]` with room for four 10-digit numbers; padded with spaces after patching.
const BYTE_RANGE_PLACEHOLDER: &[u8] = b"[0 0000000000 0000000000 0000000000]";

fn real(v: f64) -> Object {
    // Coordinates are written with 4 decimals by the serializer; f32 keeps ~7 digits, plenty
    // for page coordinates in points.
    Object::Real(v as f32)
}

fn raw_stream(dict: Dictionary, content: Vec<u8>) -> Stream {
    Stream::new(dict, content).with_compression(false)
}

/// `D:YYYYMMDDHHmmSSZ` (ISO 32000-2 §7.9.4), in UTC.
pub fn pdf_date(t: OffsetDateTime) -> String {
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parse the document for an update, refusing what cannot be updated safely.
fn load_for_update(input: &[u8]) -> Result<Document, SignError> {
    let head = &input[..input.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(SignError::NotPdf);
    }
    let ends = revisions::revision_ends(input);
    let Some(&last_end) = ends.last() else {
        return Err(SignError::Truncated);
    };
    if input[last_end..]
        .iter()
        .any(|b| !b.is_ascii_whitespace() && *b != 0)
    {
        return Err(SignError::Truncated);
    }
    let startxref = revisions::startxref_before(input, input.len())
        .ok_or_else(|| SignError::BrokenStartxref("missing".into()))?;
    if !points_at_xref(input, startxref) {
        return Err(SignError::BrokenStartxref(startxref.to_string()));
    }
    let doc = Document::load_mem(input).map_err(|e| match e {
        lopdf::Error::Decryption(_) | lopdf::Error::UnsupportedSecurityHandler(_) => {
            SignError::Encrypted
        }
        other => SignError::Malformed(other.to_string()),
    })?;
    if doc.trailer.get(b"Encrypt").is_ok() || doc.encryption_state.is_some() {
        return Err(SignError::Encrypted);
    }
    if let Some(recovery) = doc.xref_recovery {
        return Err(SignError::BrokenXref(format!("{recovery:?}")));
    }
    Ok(doc)
}

/// Whether `offset` starts a cross-reference table (`xref`) or an indirect object (`N G obj`,
/// a cross-reference stream).
fn points_at_xref(data: &[u8], offset: usize) -> bool {
    let Some(at) = data.get(offset..) else {
        return false;
    };
    if at.starts_with(b"xref") {
        return true;
    }
    let head = &at[..at.len().min(32)];
    let text = String::from_utf8_lossy(head);
    let mut parts = text.split_ascii_whitespace();
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(n), Some(g), Some(o)) if n.parse::<u32>().is_ok() && g.parse::<u16>().is_ok() && o.starts_with("obj")
    )
}

/// The DocMDP permission level of a certified document (`/Perms /DocMDP` → signature →
/// `/Reference` → DocMDP `/TransformParams /P`, default 2), or `None` if not certified.
pub fn docmdp_permission(doc: &Document) -> Option<i64> {
    let catalog = doc.catalog().ok()?;
    let perms = deref_dict(doc, catalog.get(b"Perms").ok()?)?;
    let sig = deref_dict(doc, perms.get(b"DocMDP").ok()?)?;
    let refs = match sig.get(b"Reference").ok()? {
        Object::Reference(id) => doc.get_object(*id).ok()?.as_array().ok()?,
        Object::Array(a) => a,
        _ => return Some(2),
    };
    for r in refs {
        let Some(r) = deref_dict(doc, r) else {
            continue;
        };
        if r.get(b"TransformMethod").and_then(Object::as_name).ok() == Some(b"DocMDP".as_slice()) {
            let p = r
                .get(b"TransformParams")
                .ok()
                .and_then(|tp| deref_dict(doc, tp))
                .and_then(|tp| tp.get(b"P").and_then(Object::as_i64).ok())
                .unwrap_or(2);
            return Some(p);
        }
    }
    Some(2)
}

fn deref_dict<'d>(doc: &'d Document, obj: &'d Object) -> Option<&'d Dictionary> {
    match obj {
        Object::Reference(id) => doc.get_dictionary(*id).ok(),
        Object::Dictionary(d) => Some(d),
        _ => None,
    }
}

/// The page's crop box (inherited, defaulting to the media box), as [llx lly urx ury].
fn crop_box(doc: &Document, page_id: ObjectId) -> [f64; 4] {
    let lookup = |key: &[u8]| -> Option<[f64; 4]> {
        let mut id = page_id;
        for _ in 0..64 {
            let dict = doc.get_dictionary(id).ok()?;
            if let Ok(v) = dict.get(key) {
                let arr = match v {
                    Object::Reference(r) => doc.get_object(*r).ok()?.as_array().ok()?,
                    Object::Array(a) => a,
                    _ => return None,
                };
                let nums: Vec<f64> = arr
                    .iter()
                    .filter_map(|o| match o {
                        Object::Integer(i) => Some(*i as f64),
                        Object::Real(r) => Some(f64::from(*r)),
                        _ => None,
                    })
                    .collect();
                if nums.len() == 4 {
                    return Some([
                        nums[0].min(nums[2]),
                        nums[1].min(nums[3]),
                        nums[0].max(nums[2]),
                        nums[1].max(nums[3]),
                    ]);
                }
                return None;
            }
            id = dict.get(b"Parent").and_then(Object::as_reference).ok()?;
        }
        None
    };
    lookup(b"CropBox")
        .or_else(|| lookup(b"MediaBox"))
        .unwrap_or([0.0, 0.0, 595.276, 841.89])
}

/// Fully qualified names of every field in the form (§12.7.4.2), to keep new names unique.
fn field_names(doc: &Document, acroform: &Dictionary) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut stack: Vec<(Object, String, usize)> = match acroform.get(b"Fields") {
        Ok(Object::Array(a)) => a.iter().map(|o| (o.clone(), String::new(), 0)).collect(),
        Ok(Object::Reference(id)) => doc
            .get_object(*id)
            .and_then(Object::as_array)
            .map(|a| a.iter().map(|o| (o.clone(), String::new(), 0)).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut seen = HashSet::new();
    while let Some((obj, prefix, depth)) = stack.pop() {
        if depth > 32 {
            continue;
        }
        let dict = match &obj {
            Object::Reference(id) => {
                if !seen.insert(*id) {
                    continue;
                }
                match doc.get_dictionary(*id) {
                    Ok(d) => d,
                    Err(_) => continue,
                }
            }
            Object::Dictionary(d) => d,
            _ => continue,
        };
        let name = match dict.get(b"T").and_then(Object::as_str) {
            Ok(t) => {
                let part =
                    lopdf::decode_text_string(&Object::String(t.to_vec(), StringFormat::Literal))
                        .unwrap_or_else(|_| String::from_utf8_lossy(t).into_owned());
                if prefix.is_empty() {
                    part
                } else {
                    format!("{prefix}.{part}")
                }
            }
            Err(_) => prefix.clone(),
        };
        if !name.is_empty() {
            names.insert(name.clone());
        }
        if let Ok(Object::Array(kids)) = dict.get(b"Kids") {
            for k in kids {
                stack.push((k.clone(), name.clone(), depth + 1));
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates_are_utc() {
        let t = time::macros::datetime!(2026-11-21 08:05:09 UTC);
        assert_eq!(pdf_date(t), "D:20261121080509Z");
    }

    #[test]
    fn startxref_targets() {
        assert!(points_at_xref(b"xref\n0 1", 0));
        assert!(points_at_xref(b"12 0 obj<<>>", 0));
        assert!(!points_at_xref(b"garbage", 0));
        assert!(!points_at_xref(b"xref", 99));
    }
}
