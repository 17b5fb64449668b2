// flotilla-kustomize builds one kustomization the way the planner's sandbox allows and nothing
// more: `flotilla-kustomize <repo-root> <dir>` prints the build of <dir> as YAML, like
// `kubectl kustomize <dir> --load-restrictor=LoadRestrictionsRootOnly --enable-helm=false
// --enable-alpha-plugins=false --network=false`, without kubectl's start-up (its command tree,
// API discovery machinery and flags cost ~0.15 s of CPU per render).
//
// The restrictions are compiled in; there are no flags to widen them. The planner still runs it
// in the render sandbox (scrubbed environment, no network namespace, budgets); these are a second
// wall, not the only one:
//   - every file read goes through a filesystem that refuses any path (after symlinks) outside
//     <repo-root>, and refuses every write;
//   - the load restrictor is root-only (a kustomization reads only below its own directory);
//   - builtin plugins only: no exec or Go plugins, no KRM functions, Helm disabled;
//   - no network: HTTP(S) resources fail before dialling, and PATH is emptied so the git
//     cloner kustomize uses for remote bases finds no git.
package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: flotilla-kustomize <repo-root> <kustomization-dir>")
		os.Exit(2)
	}
	// Before anything can look them up: remote bases are cloned with the git binary found on
	// PATH, and remote resources are fetched with a default http.Client.
	os.Setenv("PATH", "")
	http.DefaultTransport = noNetwork{}

	root, err := filepath.EvalSymlinks(os.Args[1])
	if err == nil {
		root, err = filepath.Abs(root)
	}
	if err != nil {
		fail(fmt.Errorf("repo root: %w", err))
	}
	fsys := restrictedFS{FileSystem: filesys.MakeFsOnDisk(), root: root}
	dir := os.Args[2]
	if err := fsys.check(dir); err != nil {
		fail(err)
	}

	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig() // builtins only, Helm off, no functions
	opts.AddManagedbyLabel = false
	// kubectl kustomize's default: a kustomization's sortOptions, else kustomize's legacy order.
	opts.Reorder = krusty.ReorderOptionUnspecified
	m, err := krusty.MakeKustomizer(opts).Run(fsys, dir)
	if err != nil {
		fail(err)
	}
	out, err := m.AsYaml()
	if err != nil {
		fail(err)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fail(err)
	}
}

// fail prints like kubectl does (`error: …`), so the planner reads both the same way.
func fail(err error) {
	fmt.Fprintf(os.Stderr, "error: %v\n", err)
	os.Exit(1)
}

type noNetwork struct{}

func (noNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("network access is disabled (%s)", r.URL.Redacted())
}

var errReadOnly = errors.New("the config repo is read-only to the renderer")

// restrictedFS is the on-disk filesystem confined to root: a path that resolves (symlinks
// followed) outside it is refused, as is every write.
type restrictedFS struct {
	filesys.FileSystem
	root string
}

func (r restrictedFS) check(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		// A missing path (the caller reports it) still may not name anything outside.
		real = filepath.Clean(abs)
	}
	if real != r.root && !strings.HasPrefix(real, r.root+string(filepath.Separator)) {
		return fmt.Errorf("%q is outside the config repo", path)
	}
	return nil
}

func (r restrictedFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (r restrictedFS) Mkdir(string) error                  { return errReadOnly }
func (r restrictedFS) MkdirAll(string) error               { return errReadOnly }
func (r restrictedFS) RemoveAll(string) error              { return errReadOnly }
func (r restrictedFS) WriteFile(string, []byte) error      { return errReadOnly }

func (r restrictedFS) Open(path string) (filesys.File, error) {
	if err := r.check(path); err != nil {
		return nil, err
	}
	return r.FileSystem.Open(path)
}

func (r restrictedFS) IsDir(path string) bool {
	return r.check(path) == nil && r.FileSystem.IsDir(path)
}

func (r restrictedFS) Exists(path string) bool {
	return r.check(path) == nil && r.FileSystem.Exists(path)
}

func (r restrictedFS) ReadDir(path string) ([]string, error) {
	if err := r.check(path); err != nil {
		return nil, err
	}
	return r.FileSystem.ReadDir(path)
}

func (r restrictedFS) ReadFile(path string) ([]byte, error) {
	if err := r.check(path); err != nil {
		return nil, err
	}
	return r.FileSystem.ReadFile(path)
}

func (r restrictedFS) CleanedAbs(path string) (filesys.ConfirmedDir, string, error) {
	if err := r.check(path); err != nil {
		return "", "", err
	}
	d, f, err := r.FileSystem.CleanedAbs(path)
	if err != nil {
		return d, f, err
	}
	if err := r.check(d.Join(f)); err != nil {
		return "", "", err
	}
	return d, f, nil
}

func (r restrictedFS) Glob(pattern string) ([]string, error) {
	matches, err := r.FileSystem.Glob(pattern)
	if err != nil {
		return nil, err
	}
	kept := matches[:0]
	for _, m := range matches {
		if r.check(m) == nil {
			kept = append(kept, m)
		}
	}
	return kept, nil
}

func (r restrictedFS) Walk(path string, walkFn filepath.WalkFunc) error {
	if err := r.check(path); err != nil {
		return err
	}
	// filepath.Walk does not follow symlinks; each path it reports is checked before use.
	return r.FileSystem.Walk(path, func(p string, info os.FileInfo, err error) error {
		if cerr := r.check(p); cerr != nil {
			return cerr
		}
		return walkFn(p, info, err)
	})
}
