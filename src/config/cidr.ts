// CIDR ranges ("10.0.0.0/8", "fd00::/8", or a bare address) for trustedProxies.

import { BlockList, isIP } from 'node:net';

/** An error sentence, or undefined when the text is a usable CIDR or address. */
export function checkCidr(text: string): string | undefined {
  const [address, bits, extra] = text.trim().split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return `"${text}" is not a CIDR; expected e.g. "10.0.0.0/8" or "fd00::/8"`;
  if (bits === undefined) return undefined;
  const prefix = Number(bits);
  if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) return `"${text}" has an invalid prefix length`;
  return undefined;
}

/** Matches peer addresses against the list (IPv4-mapped IPv6 peers count as IPv4). */
export function cidrMatcher(cidrs: readonly string[]): (address: string | undefined) => boolean {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.trim().split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    if (address === undefined) return false;
    const v4 = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    return list.check(v4, isIP(v4) === 6 ? 'ipv6' : 'ipv4');
  };
}
