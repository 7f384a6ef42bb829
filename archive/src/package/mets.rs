//! `data/METS.xml`: the package described in METS 1.12 (Library of Congress) following the
//! E-ARK Common Specification for Information Packages (CSIP 2.x) profile as far as an
//! archive of records and documents needs it, with one PREMIS 3 `event` per archive record in
//! an `amdSec/digiprovMD` (the E-ARK "AIP in BagIt" layout puts this file at the top of the
//! bag's `data/`). Written as a stream; checked by a streaming parser.

use std::io::{self, BufRead, Write};

use quick_xml::events::Event;

use super::four::escape;
use crate::record::Record;

/// METS namespace.
pub const METS_NS: &str = "http://www.loc.gov/METS/";
/// PREMIS 3 namespace.
pub const PREMIS_NS: &str = "http://www.loc.gov/premis/v3";
/// E-ARK CSIP profile URL named in `@PROFILE`.
pub const CSIP_PROFILE: &str = "https://earkcsip.dilcis.eu/profile/E-ARK-CSIP.xml";

/// The identifier type of the PREMIS event identifiers: the value is the record's seq.
pub const EVENT_ID_TYPE: &str = "chop-log-seq";

/// A file listed in the METS `fileSec`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetsFile {
    /// `fileGrp/@USE`, e.g. `Documents`.
    pub group: &'static str,
    /// Path relative to `data/` (where METS.xml is).
    pub path: String,
    /// Media type.
    pub mime: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// Writes the XML declaration, the `mets` root, `metsHdr` and opens the `amdSec`.
pub fn write_head<W: Write + ?Sized>(
    w: &mut W,
    objid: &str,
    label: &str,
    created: &str,
    version: &str,
) -> io::Result<()> {
    write!(
        w,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<mets:mets xmlns:mets=\"{METS_NS}\" xmlns:premis=\"{PREMIS_NS}\" \
xmlns:xlink=\"http://www.w3.org/1999/xlink\" \
xmlns:csip=\"https://DILCIS.eu/XML/METS/CSIPExtensionMETS\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xsi:schemaLocation=\"http://www.loc.gov/METS/ http://www.loc.gov/standards/mets/mets.xsd http://www.loc.gov/premis/v3 http://www.loc.gov/standards/premis/premis.xsd\" \
OBJID=\"{}\" LABEL=\"{}\" TYPE=\"OTHER\" csip:OTHERTYPE=\"Chop retention package\" \
csip:CONTENTINFORMATIONTYPE=\"OTHER\" csip:OTHERCONTENTINFORMATIONTYPE=\"Chop archive records and documents\" \
PROFILE=\"{CSIP_PROFILE}\">\n\
 <mets:metsHdr CREATEDATE=\"{}\" RECORDSTATUS=\"NEW\" csip:OAISPACKAGETYPE=\"AIP\">\n\
  <mets:agent ROLE=\"CREATOR\" TYPE=\"OTHER\" OTHERTYPE=\"SOFTWARE\">\n\
   <mets:name>Chop</mets:name>\n\
   <mets:note csip:NOTETYPE=\"SOFTWARE VERSION\">{}</mets:note>\n\
  </mets:agent>\n\
 </mets:metsHdr>\n\
 <mets:amdSec ID=\"amd-log\">\n",
        escape(objid),
        escape(label),
        escape(created),
        escape(version),
    )
}

/// Writes one `digiprovMD` holding the PREMIS event of `record` (PREMIS 3 §2.3 Event:
/// identifier, type, date-time, detail, outcome, agent, linked objects).
pub fn write_event<W: Write + ?Sized>(w: &mut W, record: &Record) -> io::Result<()> {
    let seq = record.seq;
    write!(
        w,
        "  <mets:digiprovMD ID=\"event-{seq}\">\n   <mets:mdWrap MDTYPE=\"PREMIS:EVENT\"><mets:xmlData>\n\
    <premis:event>\n\
     <premis:eventIdentifier><premis:eventIdentifierType>{EVENT_ID_TYPE}</premis:eventIdentifierType>\
<premis:eventIdentifierValue>{seq}</premis:eventIdentifierValue></premis:eventIdentifier>\n\
     <premis:eventType>{}</premis:eventType>\n\
     <premis:eventDateTime>{}</premis:eventDateTime>\n\
     <premis:eventDetailInformation><premis:eventDetail>{}</premis:eventDetail></premis:eventDetailInformation>\n",
        escape(record.kind.premis_event_type()),
        escape(record.time.as_str()),
        escape(&format!(
            "Chop record kind {}; retention {}; record file records/{seq}.json",
            record.kind, record.retention
        )),
    )?;
    if let Some(indication) = record.payload.get("indication").and_then(|v| v.as_str()) {
        writeln!(
            w,
            "     <premis:eventOutcomeInformation><premis:eventOutcome>{}</premis:eventOutcome></premis:eventOutcomeInformation>",
            escape(indication)
        )?;
    }
    writeln!(
        w,
        "     <premis:linkingAgentIdentifier><premis:linkingAgentIdentifierType>chop-actor</premis:linkingAgentIdentifierType>\
<premis:linkingAgentIdentifierValue>{}</premis:linkingAgentIdentifierValue></premis:linkingAgentIdentifier>",
        escape(&record.actor)
    )?;
    for s in &record.subject {
        writeln!(
            w,
            "     <premis:linkingObjectIdentifier><premis:linkingObjectIdentifierType>chop-subject</premis:linkingObjectIdentifierType>\
<premis:linkingObjectIdentifierValue>{}</premis:linkingObjectIdentifierValue></premis:linkingObjectIdentifier>",
            escape(s)
        )?;
    }
    for d in &record.digests {
        write!(
            w,
            "     <premis:linkingObjectIdentifier><premis:linkingObjectIdentifierType>sha256</premis:linkingObjectIdentifierType>\
<premis:linkingObjectIdentifierValue>{}</premis:linkingObjectIdentifierValue>",
            d.value.to_hex()
        )?;
        if let Some(role) = &d.role {
            write!(
                w,
                "<premis:linkingObjectRole>{}</premis:linkingObjectRole>",
                escape(role)
            )?;
        }
        writeln!(w, "</premis:linkingObjectIdentifier>")?;
    }
    writeln!(
        w,
        "    </premis:event>\n   </mets:xmlData></mets:mdWrap>\n  </mets:digiprovMD>"
    )
}

/// Closes the `amdSec`, writes the `fileSec` (one `fileGrp` per group, in first-seen order)
/// and a physical `structMap`, and closes the root.
pub fn write_tail<W: Write + ?Sized>(w: &mut W, label: &str, files: &[MetsFile]) -> io::Result<()> {
    let mut groups: Vec<&'static str> = Vec::new();
    for f in files {
        if !groups.contains(&f.group) {
            groups.push(f.group);
        }
    }
    writeln!(w, " </mets:amdSec>\n <mets:fileSec ID=\"files\">")?;
    for (g, group) in groups.iter().enumerate() {
        writeln!(
            w,
            "  <mets:fileGrp ID=\"grp-{g}\" USE=\"{}\">",
            escape(group)
        )?;
        for (i, f) in files.iter().enumerate().filter(|(_, f)| f.group == *group) {
            writeln!(
                w,
                "   <mets:file ID=\"file-{i}\" MIMETYPE=\"{}\" SIZE=\"{}\" CHECKSUM=\"{}\" CHECKSUMTYPE=\"SHA-256\" ADMID=\"amd-log\">\
<mets:FLocat LOCTYPE=\"URL\" xlink:type=\"simple\" xlink:href=\"{}\"/></mets:file>",
                f.mime,
                f.size,
                f.sha256,
                escape(&f.path)
            )?;
        }
        writeln!(w, "  </mets:fileGrp>")?;
    }
    writeln!(
        w,
        " </mets:fileSec>\n <mets:structMap ID=\"struct\" TYPE=\"PHYSICAL\" LABEL=\"CSIP\">\n  <mets:div ID=\"root\" LABEL=\"{}\">",
        escape(label)
    )?;
    for (g, group) in groups.iter().enumerate() {
        writeln!(
            w,
            "   <mets:div ID=\"div-{g}\" LABEL=\"{}\">",
            escape(group)
        )?;
        for (i, _) in files.iter().enumerate().filter(|(_, f)| f.group == *group) {
            writeln!(w, "    <mets:fptr FILEID=\"file-{i}\"/>")?;
        }
        writeln!(w, "   </mets:div>")?;
    }
    writeln!(w, "  </mets:div>\n </mets:structMap>\n</mets:mets>")
}

/// What a streaming read of METS.xml found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetsSummary {
    /// The seq of each PREMIS event, in document order.
    pub event_seqs: Vec<u64>,
    /// Number of `mets:file` elements.
    pub files: u64,
}

/// Reads METS.xml as a stream and checks it is well-formed XML with a `mets` root in the METS
/// namespace; returns the PREMIS event seqs. Errors name the byte position.
pub fn read_mets<R: BufRead>(input: R) -> Result<MetsSummary, String> {
    let mut reader = quick_xml::Reader::from_reader(input);
    reader.config_mut().check_end_names = true;
    let mut buf = Vec::new();
    let mut depth: usize = 0;
    let mut roots = 0;
    let mut in_event_id_value = false;
    let mut summary = MetsSummary::default();
    loop {
        let pos = reader.buffer_position();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not well-formed XML near byte {pos}: {e}"))?;
        match event {
            Event::Start(e) | Event::Empty(e) if depth == 0 => {
                roots += 1;
                if roots > 1 {
                    return Err("more than one root element".into());
                }
                if e.local_name().as_ref() != b"mets" {
                    return Err("the root element is not mets".into());
                }
                let ns_ok = e.attributes().flatten().any(|a| {
                    a.key.as_ref().starts_with(b"xmlns") && a.value.as_ref() == METS_NS.as_bytes()
                });
                if !ns_ok {
                    return Err(format!(
                        "the root element is not in the METS namespace {METS_NS}"
                    ));
                }
                depth += 1;
            }
            Event::Start(e) => {
                depth += 1;
                in_event_id_value = e.local_name().as_ref() == b"eventIdentifierValue";
                if e.local_name().as_ref() == b"file" {
                    summary.files += 1;
                }
            }
            Event::Empty(e) if e.local_name().as_ref() == b"file" => summary.files += 1,
            Event::End(_) => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced end tag near byte {pos}"))?;
                in_event_id_value = false;
            }
            Event::Text(t) if depth == 0 => {
                let text = t.decode().map_err(|e| format!("bad text: {e}"))?;
                if !text.trim().is_empty() {
                    return Err(format!("text outside the root element near byte {pos}"));
                }
            }
            Event::Text(t) if in_event_id_value => {
                let text = t.decode().map_err(|e| format!("bad text: {e}"))?;
                let seq = text
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("event identifier {:?} is not a seq", text.trim()))?;
                summary.event_seqs.push(seq);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if depth != 0 {
        return Err("the document ends inside an element".into());
    }
    if roots == 0 {
        return Err("no root element".into());
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Digest, NewRecord, RecordBuilder, RecordKind};

    #[test]
    fn written_mets_reads_back_with_every_event() {
        let mut b = RecordBuilder::genesis();
        let mut out = Vec::new();
        write_head(
            &mut out,
            "urn:x",
            "label <&>",
            "2025-01-01T00:00:00Z",
            "0.1.0",
        )
        .unwrap();
        for i in 0..3 {
            let mut r = NewRecord::new(RecordKind::DocumentSealed, "user:\"<张三>\"");
            r.subject = vec![format!("document:{i}")];
            r.digests = vec![Digest::sha256_of(b"x", Some("document"))];
            r.payload.insert("indication".into(), "TOTAL-PASSED".into());
            let e = b.build(r).unwrap();
            write_event(&mut out, &e.record).unwrap();
        }
        let files = vec![MetsFile {
            group: "Documents",
            path: "documents/a&b.pdf".into(),
            mime: "application/pdf",
            size: 3,
            sha256: "00".repeat(32),
        }];
        write_tail(&mut out, "label", &files).unwrap();
        let s = read_mets(&out[..]).unwrap();
        assert_eq!(s.event_seqs, vec![0, 1, 2]);
        assert_eq!(s.files, 1);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("<premis:eventType>digital signature generation</premis:eventType>"));

        let truncated = &out[..out.len() - 20];
        assert!(read_mets(truncated).is_err());
        let broken = text.replace("</premis:eventType>", "</premis:eventTyp>");
        assert!(read_mets(broken.as_bytes()).is_err());
        assert!(read_mets(&b"<x/>"[..]).unwrap_err().contains("not mets"));
    }
}
