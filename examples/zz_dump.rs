#![recursion_limit = "256"]
#[path = "../benches/figures/pushes.rs"]
#[allow(dead_code)]
mod pushes;
fn main() {
    let out = std::path::Path::new("/tmp/pushes");
    std::fs::create_dir_all(out).unwrap();
    let calls = 4000u64;
    for n in 0..calls {
        let start = pushes::start_of(n, calls);
        for (i, body) in pushes::call_pushes(n, start).iter().enumerate() {
            std::fs::write(out.join(format!("{n:06}-{i}.json")), body).unwrap();
        }
    }
}
