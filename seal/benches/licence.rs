//! Criterion benchmark: rendering one e-licence, and rendering + sealing it (the per-licence
//! work of `chop licence issue` before storage). Templates, fonts, keys and the sealer are
//! prepared once outside the measured loop, as a server does at start.
//! Run with `cargo bench -p chop-seal --bench licence`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use time::macros::date;

use chop_keys_dev::{DevPki, DevPkiOptions};
use chop_seal::codes::LicenceId;
use chop_seal::licence::{LicenceTemplates, RenderContext, render_licence, verify_url};
use chop_seal::sign::{PageSelector, Sealer, SignOptions};

const ISSUER_CODE: &str = "11320100MB0000000J";

fn context(type_code: &str, n: u64) -> RenderContext {
    let identifier = LicenceId {
        type_code: type_code.to_owned(),
        issuer_id: ISSUER_CODE.to_owned(),
        serial: format!("2025{n:09}"),
        version: "001".to_owned(),
    }
    .to_identifier()
    .expect("identifier");
    let licence_id = format!("bench{n:021}");
    RenderContext {
        identifier,
        verify_url: verify_url("https://zwfw.example.gov.cn", &licence_id),
        licence_id,
        issuer_name: "南京市示例区行政审批局".to_owned(),
        issuer_code: ISSUER_CODE.to_owned(),
        issue_date: date!(2025 - 05 - 22),
        issued_at: None,
    }
}

fn bench_licence(c: &mut Criterion) {
    let templates = LicenceTemplates::builtin().expect("templates");
    let pki = DevPki::generate(&DevPkiOptions::default()).expect("dev PKI");
    let key = pki.signer.signer();
    let chain = pki.chain();
    let sealer = Sealer::new(&key, &pki.signer.cert_der, &chain, &pki.seal).expect("sealer");
    // Warm the fonts (parsed once per process).
    for t in templates.iter() {
        let data = t.validate(&t.example()).expect("example");
        render_licence(t, &data, &context(t.type_code(), 0)).expect("render");
    }
    let mut group = c.benchmark_group("licence");
    group.throughput(Throughput::Elements(1));
    for t in templates.iter() {
        let example = t.example();
        group.bench_with_input(BenchmarkId::new("validate+render", t.key()), t, |b, t| {
            let mut n = 0;
            b.iter(|| {
                n += 1;
                let data = t.validate(&example).expect("valid");
                render_licence(t, &data, &context(t.type_code(), n))
                    .expect("render")
                    .pdf
            })
        });
        group.bench_with_input(
            BenchmarkId::new("validate+render+seal", t.key()),
            t,
            |b, t| {
                let mut n = 0;
                b.iter(|| {
                    n += 1;
                    let data = t.validate(&example).expect("valid");
                    let r = render_licence(t, &data, &context(t.type_code(), n)).expect("render");
                    let opts = SignOptions {
                        page: PageSelector::Number(r.seal_page),
                        position_mm: Some(r.seal_position_mm),
                        ..SignOptions::default()
                    };
                    sealer.seal(&r.pdf, &opts).expect("seal").pdf
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_licence);
criterion_main!(benches);
