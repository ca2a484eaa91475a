package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// prepareDirCommand is what the Helm chart's init container runs, as root
// with CAP_CHOWN only, so that the collector itself can stay non-root: the
// kubelet creates a hostPath directory as root 0755, where the non-root
// collector could not write its file_storage queue. The image is a static
// binary on an empty base, without a shell or chown, hence a subcommand.
const prepareDirCommand = "prepare-dir"

// prepareDir creates dir if needed and hands it to uid:gid with mode 0700
// (the queue holds application logs: nobody else on the node reads them).
func prepareDir(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: autotel-collector %s DIR UID:GID", prepareDirCommand)
	}
	dir := args[0]
	u, g, ok := strings.Cut(args[1], ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if !ok || err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return fmt.Errorf("%s: owner %q, want UID:GID in numbers, e.g. 65532:65532", prepareDirCommand, args[1])
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s: creating %s: %w", prepareDirCommand, dir, err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("%s: giving %s to %d:%d: %w", prepareDirCommand, dir, uid, gid, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("%s: chmod 0700 %s: %w", prepareDirCommand, dir, err)
	}
	fmt.Printf("%s: %s owned by %d:%d, mode 0700\n", prepareDirCommand, dir, uid, gid)
	return nil
}
