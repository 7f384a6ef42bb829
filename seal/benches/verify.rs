//! Criterion benchmark: verifying signed PDFs (the hot path of `chop verify`), difference
//! analysis included. Run with `cargo bench -p chop-seal --bench verify`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use chop_keys_dev::{DevPki, DevPkiOptions};
use chop_seal::sign::{Sealer, SignOptions};
use chop_seal::verify::{VerifyOptions, verify_pdf};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

fn bench_verify(c: &mut Criterion) {
    let pki = DevPki::generate(&DevPkiOptions::default()).expect("dev PKI");
    let key = pki.signer.signer();
    let chain = pki.chain();
    let sealer = Sealer::new(&key, &pki.signer.cert_der, &chain, &pki.seal).expect("sealer");
    let mut opts = VerifyOptions::default();
    opts.trust_anchors.push(pki.root_ca.cert_der.clone());
    if let Ok(pem) = std::fs::read_to_string(format!("{CORPUS}/pki/root.pem")) {
        opts.trust_anchors
            .extend(chop_seal::certs::certificates_from_pem(&pem).expect("root.pem"));
    }

    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for name in [
        "signed-pyhanko-ec.pdf",
        "signed-then-content-changed.pdf",
        "certified-docmdp2.pdf",
    ] {
        match std::fs::read(format!("{CORPUS}/{name}")) {
            Ok(d) => inputs.push((name.to_string(), d)),
            Err(_) => eprintln!("skipping {name}: corpus not found at {CORPUS}"),
        }
    }
    for name in ["plain-1page.pdf", "licence-cjk.pdf", "large-200p.pdf"] {
        if let Ok(d) = std::fs::read(format!("{CORPUS}/{name}")) {
            let sealed = sealer.seal(&d, &SignOptions::default()).expect("seal").pdf;
            inputs.push((format!("chop-sealed-{name}"), sealed));
        }
    }
    let mut group = c.benchmark_group("verify");
    for (name, input) in &inputs {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), input, |b, input| {
            b.iter(|| verify_pdf(input, &opts).expect("verify"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
