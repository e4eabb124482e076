//! The black-box tests, as one test binary: each module was once a test file
//! of its own, and `support` is what they share (the app on a free port with
//! its own database, the binary run as an operator runs it, generated calls,
//! recorded pushes and views of the database file).
//!
//! Tests run in parallel threads of this one process: none may change
//! process-wide state (environment variables, the current directory).

mod support;

mod architecture_map;
mod backup;
mod body_round_trip;
mod browsers;
mod call_history;
mod cli_commands;
mod command_help;
mod compressed_bodies;
mod config_file;
mod connection_crowding;
mod crash_loop;
mod crash_safety;
mod database_file;
mod deep_nesting;
mod disk_full;
mod export;
mod forwarding;
mod forwarding_faults;
mod forwarding_kill_9;
mod fuzz_nesting;
mod fuzzing;
mod graceful_shutdown;
mod graphiql_browser;
mod graphql_calls;
mod graphql_cors;
mod graphql_examples;
mod graphql_filters;
mod graphql_http;
mod graphql_isolation;
mod graphql_limits;
mod graphql_over_http_spec;
mod graphql_paging;
mod graphql_query_plans;
mod graphql_schema;
mod graphql_stats;
mod health_and_metrics;
mod home_page;
mod http_limits;
mod litestream;
mod live_flood;
mod live_limits;
mod live_updates;
mod merge_rules;
mod migrations;
mod odd_bodies;
mod purge;
mod rate_limit;
mod readable_view;
mod recording_links_in_logs;
mod recordings;
mod recordings_faults;
mod recordings_s3;
mod recordings_upkeep;
mod relay;
mod request_logs;
mod rollups;
mod stats_cost;
mod systemd_unit;
mod vendor_sample;
mod wallboard_browser;
mod webhook_answers;
