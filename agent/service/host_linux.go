package service

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// osHost changes the real host.
type osHost struct{}

// EnsureUser runs useradd when name does not exist.
func (osHost) EnsureUser(name, home string) error {
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	shell := "/bin/false"
	for _, s := range []string{"/usr/sbin/nologin", "/sbin/nologin"} {
		if _, err := os.Stat(s); err == nil {
			shell = s
			break
		}
	}
	out, err := exec.Command("useradd", "--system", "--user-group", "--home-dir", home,
		"--no-create-home", "--shell", shell, name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("useradd %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// PrepareDir creates dir and hands it to user.
func (osHost) PrepareDir(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chown(dir, uid, gid)
}

// CheckReadable compares file's owner, group and mode with user.
func (osHost) CheckReadable(file, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return readable(st.Mode().Perm(), strconv.FormatUint(uint64(sys.Uid), 10), strconv.FormatUint(uint64(sys.Gid), 10), u)
}

// readable decides whether u can read a file with mode, owner uid and
// group gid (ignoring supplementary groups and ACLs).
func readable(mode os.FileMode, uid, gid string, u *user.User) error {
	switch {
	case uid == u.Uid && mode&0o400 != 0, gid == u.Gid && mode&0o040 != 0, mode&0o004 != 0:
		return nil
	}
	return errors.New("file is neither owned by, nor group-readable for, nor world-readable to the user")
}
