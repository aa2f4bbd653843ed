/** QR codes of `otpauth://` URIs, as PNG data URLs a page can put in an `<img src>`. */
import QRCode from "qrcode";

/**
 * Error correction M (15 %), the level authenticator apps are shown in practice, and a quiet zone
 * of 4 modules as ISO/IEC 18004 asks; 6 pixels per module keeps an 80-character URI around 250
 * pixels wide, readable from a laptop screen by a phone.
 */
export function qrCodePng(text: string): Promise<string> {
  return QRCode.toDataURL(text, { errorCorrectionLevel: "M", margin: 4, scale: 6, type: "image/png" });
}
