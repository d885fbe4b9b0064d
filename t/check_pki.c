/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_pki.c - the test PKI of the harness (harness_tls.h): its files,
 * and what OpenSSL's verification says of each certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "harness.h"
#include "harness_tls.h"

/* one PKI for the whole suite: made before the tests (forked or not) */
static pt_pki_t *pki;

static void pki_setup(void)
{
    pki = pt_pki_create();
    ck_assert_ptr_nonnull(pki);
}

static void pki_teardown(void)
{
    pt_pki_destroy(pki);
    pki = NULL;
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_msg(x != NULL, "%s is no PEM certificate", path);
    return x;
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_msg(k != NULL, "%s is no PEM private key", path);
    return k;
}

/*
 * Verify the first certificate of @a path (the others: untrusted
 * intermediates) against the CA file @a cafile, for host @a host and IP
 * @a ip (each NULL: not checked) and @a purpose (0: any). X509_V_OK or the
 * verification's error.
 */
static int verify(const char *cafile, const char *path, const char *host, const char *ip,
                  int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *rest = sk_X509_new_null();
    X509_VERIFY_PARAM *param;
    FILE *f = fopen(path, "r");
    X509 *leaf, *x;
    int rc, err;

    ck_assert(store && ctx && rest && f);
    ck_assert_int_eq(X509_STORE_load_file(store, cafile), 1);
    leaf = PEM_read_X509(f, NULL, NULL, NULL);
    ck_assert_msg(leaf != NULL, "%s is no PEM certificate", path);
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        ck_assert(sk_X509_push(rest, x) > 0);
    fclose(f);
    ck_assert_int_eq(X509_STORE_CTX_init(ctx, store, leaf, rest), 1);
    param = X509_STORE_CTX_get0_param(ctx);
    if (host)
        ck_assert_int_eq(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
    if (ip)
        ck_assert_int_eq(X509_VERIFY_PARAM_set1_ip_asc(param, ip), 1);
    if (purpose)
        ck_assert_int_eq(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
    rc = X509_verify_cert(ctx);
    err = X509_STORE_CTX_get_error(ctx);
    ck_assert_int_eq(rc == 1, err == X509_V_OK);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(rest, X509_free);
    X509_free(leaf);
    return err;
}

#define ck_assert_verify(want, ...) do {                                    \
        int got_ = verify(__VA_ARGS__);                                     \
        ck_assert_msg(got_ == (want), "verify(%s) gave %d (%s), not %s",   \
                      #__VA_ARGS__, got_, X509_verify_cert_error_string(got_), #want); \
    } while (0)

static void assert_in_dir(const char *path)
{
    struct stat st;
    size_t n = strlen(pki->dir);

    ck_assert_ptr_nonnull(path);
    ck_assert_msg(strncmp(path, pki->dir, n) == 0 && path[n] == '/', "%s not in %s", path,
                  pki->dir);
    ck_assert_msg(stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0,
                  "%s: no file", path);
}

static void assert_cert_file(const char *path)
{
    assert_in_dir(path);
    X509_free(read_cert(path));
}

static void assert_pair(const char *cert_path, const char *key_path)
{
    X509 *x = read_cert(cert_path);
    EVP_PKEY *k = read_key(key_path);
    char group[64];

    assert_in_dir(key_path);
    ck_assert_msg(X509_check_private_key(x, k) == 1, "%s is not the key of %s", key_path,
                  cert_path);
    ck_assert(EVP_PKEY_is_a(k, "EC"));
    ck_assert_int_eq(EVP_PKEY_get_group_name(k, group, sizeof group, NULL), 1);
    ck_assert_str_eq(group, "prime256v1");
    EVP_PKEY_free(k);
    X509_free(x);
}

START_TEST(test_files)
{
    struct stat st;
    FILE *f;

    ck_assert(stat(pki->dir, &st) == 0 && S_ISDIR(st.st_mode));
    assert_cert_file(pki->ca);
    assert_cert_file(pki->other_ca);
    assert_cert_file(pki->server_cert);
    assert_cert_file(pki->expired_cert);
    assert_cert_file(pki->other_cert);
    assert_cert_file(pki->selfsigned_cert);
    assert_cert_file(pki->client_cert);
    assert_cert_file(pki->server_chain);
    assert_pair(pki->server_cert, pki->server_key);
    assert_pair(pki->expired_cert, pki->expired_key);
    assert_pair(pki->other_cert, pki->other_key);
    assert_pair(pki->selfsigned_cert, pki->selfsigned_key);
    assert_pair(pki->client_cert, pki->client_key);
    /* the garbage is there and is neither a certificate nor a key */
    assert_in_dir(pki->garbage);
    ck_assert_ptr_nonnull(f = fopen(pki->garbage, "r"));
    ck_assert_ptr_null(PEM_read_X509(f, NULL, NULL, NULL));
    rewind(f);
    ck_assert_ptr_null(PEM_read_PrivateKey(f, NULL, NULL, NULL));
    fclose(f);
}
END_TEST

/* the chain file is server_cert, then ca */
START_TEST(test_chain_file)
{
    X509 *server = read_cert(pki->server_cert), *ca = read_cert(pki->ca), *x;
    FILE *f = fopen(pki->server_chain, "r");

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(x = PEM_read_X509(f, NULL, NULL, NULL));
    ck_assert_int_eq(X509_cmp(x, server), 0);
    X509_free(x);
    ck_assert_ptr_nonnull(x = PEM_read_X509(f, NULL, NULL, NULL));
    ck_assert_int_eq(X509_cmp(x, ca), 0);
    X509_free(x);
    ck_assert_ptr_null(PEM_read_X509(f, NULL, NULL, NULL));
    fclose(f);
    X509_free(ca);
    X509_free(server);
}
END_TEST

/* v3, CA or not, key identifiers that chain, distinct serial numbers */
START_TEST(test_extensions)
{
    const char *leaves[] = { pki->server_cert, pki->expired_cert, pki->other_cert,
                             pki->client_cert };
    X509 *ca = read_cert(pki->ca), *other_ca = read_cert(pki->other_ca);
    X509 *self = read_cert(pki->selfsigned_cert);
    unsigned i;

    ck_assert_int_eq(X509_get_version(ca), X509_VERSION_3);
    ck_assert_int_eq(X509_check_ca(ca), 1);
    ck_assert_int_eq(X509_check_ca(other_ca), 1);
    ck_assert_int_eq(X509_check_ca(self), 0);
    ck_assert(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    ck_assert_ptr_nonnull(X509_get0_subject_key_id(ca));
    ck_assert(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca), X509_get0_serialNumber(other_ca)));
    /* self-signed: its own issuer, its own authority key */
    ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(self), X509_get_issuer_name(self)), 0);
    ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(self),
                                           X509_get0_subject_key_id(self)), 0);
    ck_assert_int_eq(X509_verify(self, X509_get0_pubkey(self)), 1);
    for (i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        X509 *x = read_cert(leaves[i]);

        ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
        ck_assert_int_eq(X509_check_ca(x), 0);
        ck_assert_int_eq(X509_check_issued(ca, x), X509_V_OK);
        ck_assert_int_ne(X509_check_issued(other_ca, x), X509_V_OK);
        ck_assert_ptr_nonnull(X509_get0_subject_key_id(x));
        ck_assert_ptr_nonnull(X509_get0_authority_key_id(x));
        ck_assert_int_eq(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
                                               X509_get0_subject_key_id(ca)), 0);
        ck_assert(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
        ck_assert(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca), X509_get0_serialNumber(x)));
        X509_free(x);
    }
    X509_free(self);
    X509_free(other_ca);
    X509_free(ca);
}
END_TEST

START_TEST(test_server_verifies)
{
    ck_assert_verify(X509_V_OK, pki->ca, pki->server_cert, NULL, NULL, 0);
    ck_assert_verify(X509_V_OK, pki->ca, pki->server_cert, "localhost", NULL,
                     X509_PURPOSE_SSL_SERVER);
    ck_assert_verify(X509_V_OK, pki->ca, pki->server_cert, "test.poolev.invalid", NULL, 0);
    ck_assert_verify(X509_V_OK, pki->ca, pki->server_cert, NULL, "127.0.0.1", 0);
    ck_assert_verify(X509_V_OK, pki->ca, pki->server_cert, NULL, "::1", 0);
    ck_assert_verify(X509_V_OK, pki->ca, pki->server_chain, "localhost", NULL, 0);
    /* the names it does not have */
    ck_assert_verify(X509_V_ERR_HOSTNAME_MISMATCH, pki->ca, pki->server_cert,
                     "other.example", NULL, 0);
    ck_assert_verify(X509_V_ERR_IP_ADDRESS_MISMATCH, pki->ca, pki->server_cert, NULL,
                     "127.0.0.2", 0);
    /* a server's certificate is not a client's */
    ck_assert_verify(X509_V_ERR_INVALID_PURPOSE, pki->ca, pki->server_cert, NULL, NULL,
                     X509_PURPOSE_SSL_CLIENT);
}
END_TEST

START_TEST(test_expired)
{
    ck_assert_verify(X509_V_ERR_CERT_HAS_EXPIRED, pki->ca, pki->expired_cert, "localhost",
                     NULL, 0);
}
END_TEST

START_TEST(test_wrong_host)
{
    ck_assert_verify(X509_V_ERR_HOSTNAME_MISMATCH, pki->ca, pki->other_cert, "localhost",
                     NULL, 0);
    ck_assert_verify(X509_V_OK, pki->ca, pki->other_cert, "other.example", NULL, 0);
}
END_TEST

START_TEST(test_untrusted)
{
    ck_assert_verify(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, pki->ca, pki->selfsigned_cert,
                     "localhost", NULL, 0);
    ck_assert_verify(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, pki->other_ca,
                     pki->server_cert, "localhost", NULL, 0);
    ck_assert_verify(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, pki->other_ca,
                     pki->client_cert, NULL, NULL, X509_PURPOSE_SSL_CLIENT);
}
END_TEST

START_TEST(test_client)
{
    ck_assert_verify(X509_V_OK, pki->ca, pki->client_cert, NULL, NULL,
                     X509_PURPOSE_SSL_CLIENT);
    ck_assert_verify(X509_V_ERR_INVALID_PURPOSE, pki->ca, pki->client_cert, NULL, NULL,
                     X509_PURPOSE_SSL_SERVER);
}
END_TEST

/* the openssl command agrees, where it is installed */
START_TEST(test_openssl_command)
{
    char cmd[8192];
    int rc;

    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        fprintf(stderr, "check_pki: no openssl command, test_openssl_command skipped\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "openssl verify -CAfile '%s' '%s' >/dev/null", pki->ca,
             pki->server_cert);
    rc = system(cmd);
    ck_assert_msg(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s: %d", cmd, rc);
    snprintf(cmd, sizeof cmd, "openssl verify -CAfile '%s' '%s' >/dev/null 2>&1",
             pki->ca, pki->expired_cert);
    rc = system(cmd);
    ck_assert_msg(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) != 0, "%s: %d", cmd, rc);
}
END_TEST

/* pt_pki_destroy() leaves nothing behind */
START_TEST(test_destroy)
{
    pt_pki_t *p = pt_pki_create();
    char dir[4096], server[4096];
    struct stat st;

    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_ne(p, pki);
    ck_assert_str_ne(p->dir, pki->dir);
    snprintf(dir, sizeof dir, "%s", p->dir);
    snprintf(server, sizeof server, "%s", p->server_cert);
    ck_assert_int_eq(stat(server, &st), 0);
    pt_pki_destroy(p);
    ck_assert_int_ne(stat(server, &st), 0);
    ck_assert_int_ne(stat(dir, &st), 0);
    pt_pki_destroy(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pki");
    TCase *tc = tcase_create("pki");

    tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
    tcase_add_test(tc, test_files);
    tcase_add_test(tc, test_chain_file);
    tcase_add_test(tc, test_extensions);
    tcase_add_test(tc, test_server_verifies);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_wrong_host);
    tcase_add_test(tc, test_untrusted);
    tcase_add_test(tc, test_client);
    tcase_add_test(tc, test_openssl_command);
    tcase_add_test(tc, test_destroy);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
