// Package storetest is the one test suite every store.Store implementation
// runs (Run), plus what store tests share: the concurrency check
// (ApplyConcurrently), the change feed check under concurrent writers
// (FollowWhileWriting), the Apply benchmark body (BenchApply) and the
// PostgreSQL test helpers (PostgresURL, PostgresSchema) that other packages
// reuse to test against a real database.
package storetest
