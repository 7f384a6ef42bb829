//! Criterion benchmark: sealing one document (the hot path of `chop sign` and, later, of
//! licence issuance). Run with `cargo bench -p chop-seal --bench sign`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use chop_keys_dev::{DevPki, DevPkiOptions};
use chop_seal::sign::{Sealer, SignOptions};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

fn bench_sign(c: &mut Criterion) {
    let pki = DevPki::generate(&DevPkiOptions::default()).expect("dev PKI");
    let key = pki.signer.signer();
    let chain = pki.chain();
    let sealer = Sealer::new(&key, &pki.signer.cert_der, &chain, &pki.seal).expect("sealer");
    let opts = SignOptions::default();
    let mut group = c.benchmark_group("seal");
    for name in ["plain-1page.pdf", "licence-cjk.pdf", "large-200p.pdf"] {
        let Ok(input) = std::fs::read(format!("{CORPUS}/{name}")) else {
            eprintln!("skipping {name}: corpus not found at {CORPUS}");
            continue;
        };
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &input, |b, input| {
            b.iter(|| sealer.seal(input, &opts).expect("seal").pdf)
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sign);
criterion_main!(benches);
