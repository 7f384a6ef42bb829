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

use lopdf::{Dictionary, Object, ObjectId, Stream, StringFormat, dictionary};
use time::OffsetDateTime;

use crate::cms::build::{BuildError, SignedDataRequest, build_signed_data, estimate_size};
use crate::keys::Signer;
use crate::pdf::image::{SealImage, draw_image};
use crate::pdf::incremental::{IncrementalUpdate, TrailerInfo, XrefStyle};
use crate::pdf::reader::{LazyDocument, ReadError};
use crate::pdf::revisions;
use crate::pdf::serialize::{text_string, write_literal_string, write_name, write_object};
use crate::picture::PictureError;
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
    /// signature field after a P=2/P=3 certification; pyHanko and Chop's verifier (stricter on
    /// purpose: such a field can cover content) then judge the certification signature broken. Default `false`: on a certified document the seal
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
    image: SealImage,
    /// The form XObject's content stream: draw the image at the picture's printed size.
    content: Vec<u8>,
    width_pt: f64,
    height_pt: f64,
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
        let width_pt = f64::from(info.picture_width_mm) * PT_PER_MM;
        let height_pt = f64::from(info.picture_height_mm) * PT_PER_MM;
        let appearance = Appearance {
            image: SealImage::prepare(&info.picture_png)?,
            content: draw_image(width_pt, height_pt),
            width_pt,
            height_pt,
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

        let root_id = doc
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .map_err(|_| SignError::Malformed("the trailer has no /Root reference".into()))?;
        let catalog_obj = doc
            .dictionary(root_id)
            .map_err(|e| malformed("catalog", e))?;
        let catalog = dict_of(&catalog_obj)
            .ok_or_else(|| SignError::Malformed("the catalog is not a dictionary".into()))?;

        let certified = docmdp_permission(&doc, catalog);
        if certified == Some(1) {
            return Err(SignError::DocMdpNoChanges);
        }
        let visible = certified.is_none() || opts.visible_on_certified;

        let pages_root = catalog
            .get(b"Pages")
            .and_then(Object::as_reference)
            .map_err(|_| SignError::Malformed("the catalog has no /Pages reference".into()))?;
        let page_id =
            find_page(&doc, pages_root, opts.page).map_err(|e| malformed("page tree", e))??;
        let page_obj = doc
            .dictionary(page_id)
            .map_err(|e| malformed("page object", e))?;
        let page = dict_of(&page_obj)
            .ok_or_else(|| SignError::Malformed("the page is not a dictionary".into()))?;
        let crop = crop_box(&doc, page_id);

        // AcroForm: direct in the catalog, indirect, or absent.
        let acroform_ref = catalog
            .get(b"AcroForm")
            .ok()
            .and_then(|o| o.as_reference().ok());
        let mut acroform: Dictionary = match catalog.get(b"AcroForm") {
            Ok(Object::Reference(id)) => doc
                .get(*id)
                .ok()
                .and_then(|o| dict_of(&o).cloned())
                .unwrap_or_default(),
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
            .image
            .alpha
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
            // Image XObject and its soft mask, written straight from the prepared bytes.
            if let Some(smask_id) = smask_id {
                update.add_object_with(smask_id, |out| a.image.write_smask(out));
            }
            update.add_object_with(img_id, |out| a.image.write_image(out, smask_id));

            // Appearance: draw the picture over the whole box.
            let ap = dictionary! {
                "Type" => "XObject",
                "Subtype" => "Form",
                "BBox" => vec![0.into(), 0.into(), real(a.width_pt), real(a.height_pt)],
                "Resources" => dictionary! { "XObject" => dictionary! { "Seal" => img_id } },
            };
            objects.push((ap_id, Object::Stream(raw_stream(ap, a.content.clone()))));
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
                let mut arr = array_at(&doc, *arr_id)
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
                let mut arr = array_at(&doc, *arr_id)
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
        hex_into(&cms, slot);
        Ok(Sealed {
            pdf: out,
            visible,
            certified,
        })
    }
}

/// Lower-case hex digit pairs of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    table
};

/// Writes `bytes` as hex into `out` (which holds exactly two bytes per input byte): one table
/// look-up per byte.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
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

/// Open the document for an update, refusing what cannot be updated safely. Only the
/// cross-reference data and trailer are read here; objects are parsed when the update asks.
fn load_for_update(input: &[u8]) -> Result<LazyDocument<'_>, SignError> {
    let head = &input[..input.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(SignError::NotPdf);
    }
    let Some(last_end) = revisions::last_revision_end(input) else {
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
    let doc = LazyDocument::open(input, startxref).map_err(|e| match e {
        ReadError::Xref(m) => SignError::BrokenXref(m),
        ReadError::Object(m) => SignError::Malformed(m),
    })?;
    if doc.trailer.has(b"Encrypt") {
        return Err(SignError::Encrypted);
    }
    doc.check_offsets()
        .map_err(|e| SignError::BrokenXref(e.to_string()))?;
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

fn malformed(what: &str, e: ReadError) -> SignError {
    SignError::Malformed(format!("{what}: {e}"))
}

/// A dictionary, or a stream's dictionary.
fn dict_of(obj: &Object) -> Option<&Dictionary> {
    match obj {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// The array object `id`.
fn array_at(doc: &LazyDocument<'_>, id: ObjectId) -> Result<Vec<Object>, String> {
    match &*doc.get(id).map_err(|e| e.to_string())? {
        Object::Array(a) => Ok(a.clone()),
        _ => Err(format!("object {} {} is not an array", id.0, id.1)),
    }
}

/// `obj` as a dictionary, following one reference.
fn deref_dict(doc: &LazyDocument<'_>, obj: &Object) -> Option<Dictionary> {
    match obj {
        Object::Reference(id) => doc.get(*id).ok().and_then(|o| dict_of(&o).cloned()),
        Object::Dictionary(d) => Some(d.clone()),
        _ => None,
    }
}

/// The DocMDP permission level of a certified document (`/Perms /DocMDP` → signature →
/// `/Reference` → DocMDP `/TransformParams /P`, default 2), or `None` if not certified.
fn docmdp_permission(doc: &LazyDocument<'_>, catalog: &Dictionary) -> Option<i64> {
    let perms = deref_dict(doc, catalog.get(b"Perms").ok()?)?;
    let sig = deref_dict(doc, perms.get(b"DocMDP").ok()?)?;
    let refs = match sig.get(b"Reference").ok()? {
        Object::Reference(id) => array_at(doc, *id).ok()?,
        Object::Array(a) => a.clone(),
        _ => return Some(2),
    };
    for r in &refs {
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

/// Deepest page tree accepted (as lopdf's page iterator).
const PAGE_TREE_DEPTH: usize = 256;

/// How a kid of a page tree node counts (ISO 32000-2 §7.7.3).
enum PageTreeKid {
    /// A page (or an object that cannot be read: it keeps its slot, as lopdf and viewers do).
    Page,
    /// An intermediate node and its `/Count`, when that is a usable number.
    Node(Option<u32>),
    /// Neither: not counted.
    Other,
}

fn page_tree_kid(doc: &LazyDocument<'_>, id: ObjectId) -> PageTreeKid {
    let Some(obj) = doc.get(id).ok() else {
        return PageTreeKid::Page;
    };
    let Some(dict) = dict_of(&obj) else {
        return PageTreeKid::Page;
    };
    let has_kids = dict.has(b"Kids");
    let count = || {
        dict.get(b"Count")
            .and_then(Object::as_i64)
            .ok()
            .and_then(|c| u32::try_from(c).ok())
    };
    match dict.get(b"Type").and_then(Object::as_name) {
        Ok(b"Page") => PageTreeKid::Page,
        Ok(b"Pages") => PageTreeKid::Node(count()),
        Ok(_) => PageTreeKid::Other,
        Err(_) if has_kids => PageTreeKid::Node(count()),
        Err(_) => PageTreeKid::Page,
    }
}

/// The `/Kids` of node `id`, following one reference.
fn kids_of(doc: &LazyDocument<'_>, id: ObjectId) -> Result<Vec<ObjectId>, ReadError> {
    let obj = doc.get(id)?;
    let Some(dict) = dict_of(&obj) else {
        return Ok(Vec::new());
    };
    let kids = match dict.get(b"Kids") {
        Ok(k) => doc.resolve(k)?,
        Err(_) => return Ok(Vec::new()),
    };
    Ok(match &*kids {
        Object::Array(a) => a.iter().filter_map(|k| k.as_reference().ok()).collect(),
        _ => Vec::new(),
    })
}

/// Page `n` (1-based) of the subtree at `node`, which holds `total` pages by its `/Count`,
/// reading only the nodes on the way down (from the nearer end of each `/Kids`). `None` when
/// the counts on the way do not add up: the caller then walks the whole tree.
fn page_by_count(
    doc: &LazyDocument<'_>,
    node: ObjectId,
    n: u32,
    total: u32,
    depth: usize,
) -> Result<Option<ObjectId>, ReadError> {
    if depth > PAGE_TREE_DEPTH || n == 0 || n > total {
        return Ok(None);
    }
    let kids = kids_of(doc, node)?;
    let from_end = n > total / 2;
    // Pages to skip, counted from the end we start at.
    let mut skip = if from_end { total - n } else { n - 1 };
    let order: Box<dyn Iterator<Item = &ObjectId>> = if from_end {
        Box::new(kids.iter().rev())
    } else {
        Box::new(kids.iter())
    };
    for &kid in order {
        if kid == node {
            return Ok(None);
        }
        let kind = page_tree_kid(doc, kid);
        let count = match kind {
            PageTreeKid::Page => 1,
            PageTreeKid::Other => 0,
            PageTreeKid::Node(Some(c)) => c,
            PageTreeKid::Node(None) => return Ok(None),
        };
        if skip < count {
            if let PageTreeKid::Page = kind {
                return Ok(Some(kid));
            }
            let inner = if from_end { count - skip } else { skip + 1 };
            return page_by_count(doc, kid, inner, count, depth + 1);
        }
        skip -= count;
    }
    Ok(None)
}

/// Every page in order, walking the whole tree (the fallback when `/Count`s are wrong).
fn all_pages(doc: &LazyDocument<'_>, root: ObjectId) -> Result<Vec<ObjectId>, ReadError> {
    let mut pages = Vec::new();
    let mut seen = HashSet::from([root]);
    let mut stack = vec![(kids_of(doc, root)?, 0usize, 0usize)];
    while let Some((kids, i, depth)) = stack.pop() {
        let Some(&kid) = kids.get(i) else {
            continue;
        };
        stack.push((kids, i + 1, depth));
        match page_tree_kid(doc, kid) {
            PageTreeKid::Page => pages.push(kid),
            PageTreeKid::Node(_) if depth < PAGE_TREE_DEPTH && seen.insert(kid) => {
                stack.push((kids_of(doc, kid)?, 0, depth + 1));
            }
            _ => {}
        }
    }
    Ok(pages)
}

/// The page the selector names, or [`SignError::NoSuchPage`].
fn find_page(
    doc: &LazyDocument<'_>,
    root: ObjectId,
    selector: PageSelector,
) -> Result<Result<ObjectId, SignError>, ReadError> {
    let total = match page_tree_kid(doc, root) {
        PageTreeKid::Node(c) => c,
        _ => None,
    };
    if let Some(total) = total {
        let n = match selector {
            PageSelector::Last => total,
            PageSelector::Number(n) => n,
        };
        if let Some(id) = page_by_count(doc, root, n, total, 0)? {
            return Ok(Ok(id));
        }
    }
    let pages = all_pages(doc, root)?;
    let found = match selector {
        PageSelector::Last => pages.last(),
        PageSelector::Number(n) => pages.get((n as usize).wrapping_sub(1)),
    };
    Ok(found.copied().ok_or(SignError::NoSuchPage {
        requested: match selector {
            PageSelector::Last => 0,
            PageSelector::Number(n) => n,
        },
        count: pages.len(),
    }))
}

/// The page's crop box (inherited, defaulting to the media box), as [llx lly urx ury].
fn crop_box(doc: &LazyDocument<'_>, page_id: ObjectId) -> [f64; 4] {
    let lookup = |key: &[u8]| -> Option<[f64; 4]> {
        let mut id = page_id;
        for _ in 0..64 {
            let obj = doc.get(id).ok()?;
            let dict = dict_of(&obj)?;
            if let Ok(v) = dict.get(key) {
                let arr = doc.resolve(v).ok()?;
                let nums: Vec<f64> = arr
                    .as_array()
                    .ok()?
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
fn field_names(doc: &LazyDocument<'_>, acroform: &Dictionary) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut stack: Vec<(Object, String, usize)> = match acroform.get(b"Fields") {
        Ok(Object::Array(a)) => a.iter().map(|o| (o.clone(), String::new(), 0)).collect(),
        Ok(Object::Reference(id)) => array_at(doc, *id)
            .map(|a| a.into_iter().map(|o| (o, String::new(), 0)).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut seen = HashSet::new();
    while let Some((obj, prefix, depth)) = stack.pop() {
        if depth > 32 {
            continue;
        }
        let holder;
        let dict = match &obj {
            Object::Reference(id) => {
                if !seen.insert(*id) {
                    continue;
                }
                holder = match doc.get(*id) {
                    Ok(d) => d,
                    Err(_) => continue,
                };
                match dict_of(&holder) {
                    Some(d) => d,
                    None => continue,
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
    fn hex_matches_the_hex_crate() {
        let bytes: Vec<u8> = (0..=255u8).chain([0, 0xff, 0x10]).collect();
        let mut out = vec![0u8; bytes.len() * 2];
        hex_into(&bytes, &mut out);
        assert_eq!(out, hex::encode(&bytes).into_bytes());
    }

    #[test]
    fn startxref_targets() {
        assert!(points_at_xref(b"xref\n0 1", 0));
        assert!(points_at_xref(b"12 0 obj<<>>", 0));
        assert!(!points_at_xref(b"garbage", 0));
        assert!(!points_at_xref(b"xref", 99));
    }
}
