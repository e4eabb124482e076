//! The migrations are embedded at compile time (`include_dir!`); cargo does
//! not see a change inside `migrations/` on its own, so this tells it to
//! rebuild when one is added or edited.

fn main() {
    println!("cargo::rerun-if-changed=migrations");
}
