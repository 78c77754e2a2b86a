//! The migrations are embedded by `sqlx::migrate!`, which cannot tell Cargo about files added to
//! their folders: without this, a new migration would not be built in until some source changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
