//! The GraphQL API (work in progress).

pub fn sdl() -> String {
    String::new()
}
