package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestFlagsReachTheCommands runs the command tree as kubectl would, against a
// kubeconfig whose clusters do not exist: every case fails before any request.
func TestFlagsReachTheCommands(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
current-context: host
clusters:
- {name: host, cluster: {server: "https://127.0.0.1:1"}}
contexts:
- {name: host, context: {cluster: host, user: u}}
users:
- {name: u, user: {token: x}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		wantOut string
		wantErr string
	}{
		{args: []string{"version", "--client"}, wantOut: "client: kubectl-secretfed dev\n"},
		{args: []string{"join", "m1"}, wantErr: `required flag(s) "cluster-context" not set`},
		{args: []string{"join", "m1", "--cluster-context", "nope", "--kubeconfig", kubeconfig}, wantErr: `member context "nope" not found in kubeconfig ` + kubeconfig},
		{args: []string{"join", "m1", "--cluster-context", "host", "--host-context", "gone", "--kubeconfig", kubeconfig}, wantErr: `host context "gone" not found in kubeconfig ` + kubeconfig},
		{args: []string{"join", "M1", "--cluster-context", "host"}, wantErr: `invalid cluster name "M1"`},
		{args: []string{"join", "m1", "--cluster-context", "host", "--token-ttl", "1m"}, wantErr: "--token-ttl 1m0s is too short"},
		{args: []string{"unjoin", "m1", "--cluster-context", "nope", "--kubeconfig", kubeconfig}, wantErr: `member context "nope" not found`},
		{args: []string{"status", "--host-context", "gone", "--kubeconfig", kubeconfig}, wantErr: `host context "gone" not found`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := NewRootCmd(genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut})
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q does not contain %q", out.String(), tc.wantOut)
			}
		})
	}
}
