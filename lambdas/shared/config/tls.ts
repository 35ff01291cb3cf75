/**
 * The TLS policy of source sessions, shared by config validation and the runtime: the order of the
 * TLS modes and the CA bundles an operator may name in `source.caBundle`.
 */
import { X509Certificate } from 'node:crypto';
import type { TlsMode } from '../types.ts';

/** TLS modes from strongest to weakest. */
export const TLS_MODES: readonly TlsMode[] = ['verify-full', 'require', 'disable'];

/** 2 for verify-full, 1 for require, 0 for disable: a higher rank is at least as strict. */
export function tlsRank(mode: TlsMode): number {
  return TLS_MODES.length - 1 - TLS_MODES.indexOf(mode);
}

/** Named CA bundles: Node.js's bundled public CAs, or the Amazon RDS global bundle shipped with the connector. */
export const NAMED_CA_BUNDLES = ['system', 'aws-rds'] as const;
export type NamedCaBundle = (typeof NAMED_CA_BUNDLES)[number];

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates of a bundle, in order. */
export function pemCertificates(bundle: string): string[] {
  return bundle.match(PEM_CERTIFICATE) ?? [];
}

/**
 * What is wrong with a `source.caBundle` value, or undefined: a named bundle, or a PEM bundle of
 * one or more X.509 certificates (CA certificates, public by nature) and nothing else.
 */
export function checkCaBundle(value: string): string | undefined {
  if ((NAMED_CA_BUNDLES as readonly string[]).includes(value)) return undefined;
  const certificates = pemCertificates(value);
  if (certificates.length === 0) {
    return `expected ${NAMED_CA_BUNDLES.map((n) => `"${n}"`).join(' or ')}, or a PEM bundle of the operator's CA certificates (-----BEGIN CERTIFICATE----- …)`;
  }
  const rest = value.replace(PEM_CERTIFICATE, '').trim();
  if (rest !== '') return 'the PEM bundle holds something besides certificates; keep only the CA certificates';
  for (const [i, pem] of certificates.entries()) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      return `certificate ${i + 1} of the bundle is not a valid X.509 certificate`;
    }
    if (!certificate.ca) {
      return `certificate ${i + 1} of the bundle (${certificate.subject.replaceAll('\n', ', ')}) is not a CA certificate; give the CA that signed the server certificate`;
    }
  }
  return undefined;
}
