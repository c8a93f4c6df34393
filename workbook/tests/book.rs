//! The workbook's tests, one crate: each chapter's output pinned in
//! `workbook/snapshots/`, each Python twin run against its chapter, and the
//! layout that ties a chapter's program, page and snapshot together.

mod common;

mod chapters;
mod chapters_managers;
mod chapters_managers_more;
mod chapters_pool;
mod chapters_remote;
mod chapters_shared;
mod chapters_subprocess;
mod claims;
mod layout;
mod try_its;
mod twins;
