/* Log-like output for the recording benchmarks: short lines (timestamp, level, component,
 * request id, message), each written with its own write(2) as a logging program does.
 *   loggen BYTES                    BYTES of lines as fast as the reader takes them
 *   loggen BYTES RATE SUMFILE [SECONDS]
 *                                   paced to RATE bytes a second, in writes of up to 4 KiB as
 *                                   stdio does on a pipe, stopping after SECONDS too (a reader
 *                                   that cannot keep up slows it); then writes "BYTES SHA256"
 *                                   of everything written to SUMFILE (the store check)
 * The lines are deterministic (a fixed seed), so two runs write the same bytes. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* FNV-1a 64 would do to spot a lost byte, but the checker is sha256 in Python: keep a tiny one. */
typedef struct { uint32_t h[8]; uint64_t len; uint8_t buf[64]; size_t used; } sha256;
static const uint32_t K[64] = {
    0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,
    0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
    0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,
    0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
    0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,
    0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void sha_block(sha256 *s, const uint8_t *p) {
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4*i] << 24 | (uint32_t)p[4*i+1] << 16 | (uint32_t)p[4*i+2] << 8 | p[4*i+3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i-15], 7) ^ ROR(w[i-15], 18) ^ (w[i-15] >> 3);
        uint32_t s1 = ROR(w[i-2], 17) ^ ROR(w[i-2], 19) ^ (w[i-2] >> 10);
        w[i] = w[i-16] + s0 + w[i-7] + s1;
    }
    a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}
static void sha_init(sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19};
    memcpy(s->h, h0, sizeof h0); s->len = 0; s->used = 0;
}
static void sha_update(sha256 *s, const uint8_t *p, size_t n) {
    s->len += n;
    while (n) {
        size_t k = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->buf + s->used, p, k); s->used += k; p += k; n -= k;
        if (s->used == 64) { sha_block(s, s->buf); s->used = 0; }
    }
}
static void sha_hex(sha256 *s, char out[65]) {
    uint64_t bits = s->len * 8;
    uint8_t pad = 0x80, zero = 0, lenb[8];
    sha_update(s, &pad, 1);
    while (s->used != 56) sha_update(s, &zero, 1);
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(s, lenb, 8);
    for (int i = 0; i < 8; i++) sprintf(out + 8 * i, "%08x", s->h[i]);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

static const char *levels[] = {"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"};
static const char *components[] = {"http", "db.pool", "auth", "scheduler", "cache", "worker", "grpc", "kafka.consumer"};
static const char *messages[] = {
    "request completed status=200 bytes=%u duration_ms=%u",
    "connection acquired pool=primary wait_ms=%u active=%u",
    "token refreshed user_id=%u ttl=%u",
    "job finished queue=default attempts=%u runtime_ms=%u",
    "cache miss key=session:%u size=%u",
    "retrying upstream call attempt=%u backoff_ms=%u",
    "slow query table=orders rows=%u ms=%u",
    "offset committed partition=%u offset=%u"};

static size_t line(char *out, uint64_t k) {
    uint64_t r = next();
    unsigned ms = (unsigned)(k * 7 % 1000), sec = (unsigned)(k / 143 % 60), min = (unsigned)(k / 8580 % 60);
    char msg[128];
    snprintf(msg, sizeof msg, messages[r % 8], (unsigned)(r >> 8 & 0xFFFF), (unsigned)(r >> 24 & 0x3FF));
    return (size_t)sprintf(out, "2026-11-26T10:%02u:%02u.%03uZ %-5s [%s] req=%08x %s\n", min, sec, ms, levels[(r >> 40) % 6],
                           components[(r >> 44) % 8], (unsigned)(r >> 32), msg);
}

static int write_all(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            perror("loggen: write");
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc == 3 || argc > 5) {
        fprintf(stderr, "usage: loggen BYTES [RATE SUMFILE [SECONDS]]\n");
        return 2;
    }
    uint64_t total = strtoull(argv[1], NULL, 10);
    double rate = argc >= 4 ? atof(argv[2]) : 0;
    double seconds = argc == 5 ? atof(argv[4]) : 0;
    sha256 sum;
    sha_init(&sum);
    char buf[256], out[4096];
    size_t used = 0;
    uint64_t written = 0, k = 0;
    double start = now();
    while (written < total) {
        size_t n = line(buf, k++);
        if (n > total - written) { n = (size_t)(total - written); buf[n - 1] = '\n'; }
        if (argc >= 4) sha_update(&sum, (const uint8_t *)buf, n);
        written += n;
        if (rate == 0) {
            if (write_all(buf, n) < 0) return 1;
            continue;
        }
        if (used + n > sizeof out) {
            if (write_all(out, used) < 0) return 1;
            used = 0;
        }
        memcpy(out + used, buf, n);
        used += n;
        double elapsed = now() - start;
        if (seconds > 0 && elapsed >= seconds) break;
        double ahead = written / rate - elapsed;
        if (ahead > 0.005) {
            if (write_all(out, used) < 0) return 1;
            used = 0;
            usleep((useconds_t)(ahead * 1e6));
        }
    }
    if (used && write_all(out, used) < 0) return 1;
    if (argc >= 4) {
        char hex[65];
        sha_hex(&sum, hex);
        FILE *f = fopen(argv[3], "w");
        if (!f) { perror("loggen: sum file"); return 1; }
        fprintf(f, "%llu %s\n", (unsigned long long)written, hex);
        fclose(f);
    }
    return 0;
}
