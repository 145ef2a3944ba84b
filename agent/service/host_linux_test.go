package service

import (
	"os"
	"os/user"
	"testing"
)

func TestReadable(t *testing.T) {
	u := &user.User{Uid: "990", Gid: "991"}
	tests := []struct {
		name     string
		mode     os.FileMode
		uid, gid string
		want     bool
	}{
		{name: "root 0600", mode: 0o600, uid: "0", gid: "0", want: false},
		{name: "root:group 0640", mode: 0o640, uid: "0", gid: "991", want: true},
		{name: "owned 0400", mode: 0o400, uid: "990", gid: "0", want: true},
		{name: "world readable", mode: 0o644, uid: "0", gid: "0", want: true},
		{name: "group without read", mode: 0o600, uid: "0", gid: "991", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readable(tt.mode, tt.uid, tt.gid, u) == nil; got != tt.want {
				t.Errorf("readable = %v, want %v", got, tt.want)
			}
		})
	}
}
