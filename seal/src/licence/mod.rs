//! E-licences (电子证照): licence types as templates, data validation and rendering.
//!
//! - [`template`]: licence types read from TOML files — GB/T 36904-2018 type code, GB/T 36902
//!   metadata (name, holder, holder code type per GB/T 36903, validity), fields with their
//!   validation, and the printed layout; [`LicenceTemplates`] holds a loaded set.
//! - [`data`]: checking licence data (JSON) against a template, with errors naming each field
//!   (and, for a wrong check character, the expected one), giving [`LicenceData`].
//! - [`render`]: the A4 PDF/A-3b licence — frame, title, rows, issuer and date under the seal
//!   place, QR code for the verification URL, the identifier, fonts subset and embedded, the data
//!   as an associated `licence.json`, `dc:identifier` in XMP.
//!
//! Sealing the rendered PDF is [`crate::sign::Sealer::seal`] at
//! [`RenderedLicence::seal_position_mm`]. The identifier itself is built and checked by
//! [`crate::codes`].

mod cff;
pub mod data;
mod qr;
pub mod render;
pub mod template;
mod text;
mod writer;

pub use data::{FieldError, FieldProblem, FieldValue, Holder, LicenceData, Validity};
pub use render::{
    RenderContext, RenderError, RenderedLicence, SEAL_DIAMETER_MM, new_licence_id, prepare_fonts,
    render_licence, verify_url,
};
pub use template::{
    FieldSpec, FieldType, HolderCodeType, HolderSpec, LayoutSpec, LicenceTemplate,
    LicenceTemplates, TemplateError, ValidityRule,
};
pub use writer::WriteError;
