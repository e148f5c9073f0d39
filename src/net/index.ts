/** How corridor names network peers: one text form per address, so identities compare as strings. */
export { isLocalhost, peerAddress, socketForm } from './address.js';
