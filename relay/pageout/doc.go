// Package pageout hands the resident pages of a folder's memory-mapped
// files back to the kernel.
//
// Badger maps its value logs, memtable logs and tables, writes through
// the mappings and keeps them: every page written or read stays mapped and
// counts in the process's RSS (the relay held 2.9 GB of RSS after 2.7 GB
// of values, 130 MiB of it anonymous; the agent's buffer kept its whole
// reconciliation index resident). The kernel would reclaim those
// file-backed pages under memory pressure, but an RSS bound is what
// operators and containers watch. Both the agent's buffer and the relay's
// Badger store call Dir after their writes.
//
// How: madvise(MADV_PAGEOUT), Linux 5.4 and later; elsewhere Dir does
// nothing. It is non-destructive: a clean page is dropped and read back
// from the file on the next access, a dirty one is written back first. The
// ranges come from /proc/self/maps; if a range is unmapped meanwhile the
// call fails with ENOMEM (ignored), and if it was reused by another
// mapping, that mapping's pages are paged out too and come back on access:
// slower, never wrong. MADV_DONTNEED is never used: on a range reused for
// anonymous memory it would zero it.
package pageout
