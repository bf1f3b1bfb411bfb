package matcher

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	gohs "github.com/flier/gohs/hyperscan"
)

// Fingerprint identifies the database Compile builds for regexes: the Hyperscan version, the
// CPU platform, and every translated pattern with its flags. Equal fingerprints mean
// interchangeable serialized databases.
func Fingerprint(regexes []string) (string, error) {
	patterns, err := routePatterns(regexes)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "hyperscan %s\x00", gohs.Version())
	if platform := gohs.PopulatePlatform(); platform != nil {
		fmt.Fprintf(h, "platform tune %d features %d\x00", platform.Tune(), platform.CpuFeatures())
	}
	for _, p := range patterns {
		fmt.Fprintf(h, "%d\x00%s\x00%d\x00", p.Id, p.Expression, p.Flags)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CacheInfo says how a cached database was obtained.
type CacheInfo struct {
	Fingerprint string `json:"fingerprint"`
	// CompileSeconds is how long Compile took when the database was built.
	CompileSeconds float64   `json:"compileSeconds"`
	CompiledAt     time.Time `json:"compiledAt"`
	Routes         int       `json:"routes"`
	FromCache      bool      `json:"-"`
}

// CompileCached returns the database for regexes from dir when a previous run stored it there
// (keyed by Fingerprint), and otherwise compiles it and stores it. Compiling thousands of
// regexes takes seconds; loading takes milliseconds.
func CompileCached(dir string, regexes []string) (*Database, CacheInfo, error) {
	fingerprint, err := Fingerprint(regexes)
	if err != nil {
		return nil, CacheInfo{}, err
	}
	databasePath := filepath.Join(dir, fingerprint+".hsdb")
	infoPath := filepath.Join(dir, fingerprint+".json")
	if serialized, err := os.ReadFile(databasePath); err == nil {
		var info CacheInfo
		if infoData, err := os.ReadFile(infoPath); err == nil && json.Unmarshal(infoData, &info) == nil && info.Routes == len(regexes) {
			if db, err := Load(serialized, len(regexes)); err == nil {
				info.FromCache = true
				return db, info, nil
			}
		}
	}
	start := time.Now()
	db, err := Compile(regexes)
	if err != nil {
		return nil, CacheInfo{}, err
	}
	info := CacheInfo{Fingerprint: fingerprint, CompileSeconds: time.Since(start).Seconds(), CompiledAt: time.Now().UTC(), Routes: len(regexes)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return db, info, err
	}
	infoData, _ := json.MarshalIndent(info, "", "  ")
	if err := writeAtomically(databasePath, db.Marshal()); err != nil {
		return db, info, err
	}
	return db, info, writeAtomically(infoPath, infoData)
}

// writeAtomically writes data so that concurrent readers see the old file or the whole new one.
func writeAtomically(path string, data []byte) error {
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
