// Seed 002 (Solicitud Transporte), "JavaScript/TypeScript Example": APIClient and its usage, as
// written. Run with Node (its global fetch).
class APIClient {
  constructor(baseURL, username, password) {
    this.baseURL = baseURL;
    this.username = username;
    this.password = password;
    this.accessToken = null;
    this.refreshToken = null;
    this.tokenExpiry = null;
  }

  async login() {
    const response = await fetch(`${this.baseURL}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        username: this.username,
        password: this.password
      })
    });
    const data = await response.json();
    if (data.exito) {
      this.accessToken = data.datos.accessToken;
      this.refreshToken = data.datos.refreshToken;
      this.tokenExpiry = Date.now() + (data.datos.expiresIn * 1000);
      return true;
    }
    return false;
  }

  async refreshAccessToken() {
    const response = await fetch(`${this.baseURL}/auth/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refreshToken: this.refreshToken })
    });
    const data = await response.json();
    if (data.exito) {
      this.accessToken = data.datos.accessToken;
      this.tokenExpiry = Date.now() + (data.datos.expiresIn * 1000);
      return true;
    }
    return false;
  }

  async getHeaders() {
    // Check if token is expired or about to expire (5 min buffer)
    if (this.tokenExpiry && Date.now() >= this.tokenExpiry - (5 * 60 * 1000)) {
      await this.refreshAccessToken();
    }
    return {
      'Authorization': `Bearer ${this.accessToken}`,
      'Content-Type': 'application/json'
    };
  }

  async get(endpoint) {
    const headers = await this.getHeaders();
    return fetch(`${this.baseURL}${endpoint}`, {
      method: 'GET',
      headers
    });
  }

  async post(endpoint, data) {
    const headers = await this.getHeaders();
    return fetch(`${this.baseURL}${endpoint}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(data)
    });
  }
}

// Usage
const client = new APIClient(
  process.env.BASE_URL, // changed: was 'http://localhost:8000'
  'api_user',
  'your-secure-password'
);

await client.login();

// Make requests without worrying about token expiration
const response = await client.get('/v1/auth/me'); // changed: was '/solicitud/', a business route of theirs
const data = await response.json();
console.log(JSON.stringify(data)); // changed: JSON, for the test (was console.log(data))
